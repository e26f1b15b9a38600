//! `ldm console NAME`: an interactive connection to a domain's serial console.

use std::io::IsTerminal;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Ctrl-] ends the session, as in telnet.
const ESCAPE: u8 = 0x1d;

/// Puts the terminal in raw mode and restores it on drop.
struct RawMode(Option<libc::termios>);

impl RawMode {
    fn enter() -> RawMode {
        if !std::io::stdin().is_terminal() {
            return RawMode(None);
        }
        // SAFETY: termios is a plain C struct; zeroed is a valid value for
        // tcgetattr to fill in.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd 0 is open; `t` is a valid pointer to a termios.
        if unsafe { libc::tcgetattr(0, &mut t) } != 0 {
            return RawMode(None);
        }
        let saved = t;
        // SAFETY: `t` is a valid termios obtained from tcgetattr.
        unsafe { libc::cfmakeraw(&mut t) };
        // SAFETY: fd 0 is open; `t` is a valid termios.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
        RawMode(Some(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = self.0 {
            // SAFETY: restoring the attributes saved from the same fd.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
        }
    }
}

/// Connects to the console at `addr:port` and relays until the escape key or
/// the end of input.
pub async fn attach(name: &str, addr: &str, port: u16) -> Result<(), String> {
    let stream = TcpStream::connect((addr, port))
        .await
        .map_err(|e| format!("cannot connect to the console of {name} on {addr}:{port}: {e}"))?;
    eprintln!("Connected to the console of {name} ({addr}:{port}). Leave with Ctrl-] or ~. at the start of a line.\r");
    let raw = RawMode::enter();
    let (mut rd, mut wr) = stream.into_split();
    let mut to_user = tokio::spawn(async move {
        let mut out = tokio::io::stdout();
        let mut buf = vec![0u8; 8192];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if out.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    let _ = out.flush().await;
                }
            }
        }
    });
    let mut stdin = tokio::io::stdin();
    let mut buf = vec![0u8; 1024];
    let mut at_line_start = true;
    let mut tilde = false;
    loop {
        tokio::select! {
            _ = &mut to_user => break,
            n = stdin.read(&mut buf) => {
                let n = match n { Ok(0) | Err(_) => break, Ok(n) => n };
                let mut send = Vec::with_capacity(n);
                let mut leave = false;
                for &b in &buf[..n] {
                    if b == ESCAPE || (tilde && b == b'.') {
                        leave = true;
                        break;
                    }
                    if tilde && b != b'.' {
                        send.push(b'~');
                        tilde = false;
                    }
                    if at_line_start && b == b'~' {
                        tilde = true;
                        continue;
                    }
                    at_line_start = b == b'\r' || b == b'\n';
                    send.push(b);
                }
                if wr.write_all(&send).await.is_err() || leave {
                    break;
                }
            }
        }
    }
    if raw.0.is_none() {
        // Input ended (a script): leave a moment for the answer to arrive.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    to_user.abort();
    drop(raw);
    eprintln!("\r\nDisconnected from the console of {name}.");
    Ok(())
}
