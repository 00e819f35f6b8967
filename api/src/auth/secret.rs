//! The HS256 signing secret: given, or made once and kept in the data
//! directory (`jwt-secret`, mode 0600), so that `souk token` mints tokens the
//! server accepts.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use rand::RngCore;

/// The file in the data directory that keeps the generated secret.
pub const SECRET_FILE: &str = "jwt-secret";

/// The shortest secret accepted.
pub const MIN_SECRET_CHARS: usize = 16;

/// The secret given, or the one kept in `data_dir` (made on first use).
pub fn load_or_make(data_dir: &Path, given: Option<&str>) -> anyhow::Result<String> {
    if let Some(secret) = given {
        return check(secret).map(str::to_owned);
    }
    if let Some(kept) = read_kept(data_dir)? {
        return Ok(kept);
    }
    fs::create_dir_all(data_dir)
        .with_context(|| format!("while creating {}", data_dir.display()))?;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let path = data_dir.join(SECRET_FILE);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&path) {
        Ok(mut file) => {
            file.write_all(secret.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("while writing {}", path.display()))?;
            tracing::info!(path = %path.display(), "made a new token signing secret");
            Ok(secret)
        }
        // Another process made it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_kept(data_dir)?
            .with_context(|| format!("{} vanished while being made", path.display())),
        Err(e) => Err(e).with_context(|| format!("while creating {}", path.display())),
    }
}

/// The secret kept in `data_dir`, if there is one; never makes one.
pub fn read_kept(data_dir: &Path) -> anyhow::Result<Option<String>> {
    let path = data_dir.join(SECRET_FILE);
    match fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => Ok(Some(s.trim().to_owned())),
        Ok(_) => anyhow::bail!("{} is empty", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("while reading {}", path.display())),
    }
}

fn check(secret: &str) -> anyhow::Result<&str> {
    anyhow::ensure!(
        secret.chars().count() >= MIN_SECRET_CHARS,
        "the JWT secret must be at least {MIN_SECRET_CHARS} characters"
    );
    Ok(secret)
}
