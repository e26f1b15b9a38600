//! Asking the administrator: passwords without echo, yes/no questions.

use std::io::{BufRead, IsTerminal, Write};

/// Whether standard input is a terminal we can prompt on.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

/// Prompts for a password without echo.
pub fn password(prompt: &str) -> Result<String, String> {
    if !interactive() {
        return Err(format!(
            "'{}' needs a terminal: give the password in a file with -p FILE (mode 0600)",
            prompt.trim_end_matches([':', ' '])
        ));
    }
    rpassword::prompt_password(prompt).map_err(|e| format!("cannot read the password: {e}"))
}

/// Prompts for a new password twice.
pub fn new_password() -> Result<String, String> {
    let a = password("Password: ")?;
    let b = password("Re-enter password: ")?;
    if a != b {
        return Err("the passwords do not match".into());
    }
    if a.is_empty() {
        return Err("an empty password is not allowed".into());
    }
    Ok(a)
}

/// Asks a yes/no question on the terminal; false unless the answer is yes.
pub fn confirm(question: &str) -> bool {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}
