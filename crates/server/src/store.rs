//! Opens the configured store (embedded SQLite by default, Postgres for production) and
//! resolves the key-encryption key that seals signing keys at rest.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use portcullis_core::keyring::KeyEncryptionKey;
use portcullis_core::store::Store;
use portcullis_store::PgStore;
use portcullis_store::SqliteStore;
use secrecy::ExposeSecret;

use crate::config::{Backend, Config, redact_url};

/// Name of the generated key-encryption key file inside the data directory.
pub const GENERATED_KEK_FILE: &str = "key-encryption-key";

/// Connects to the configured store and applies pending migrations (each backend's
/// migrator is safe to run from several replicas at once).
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let backend = config.backend()?;
    let store: Arc<dyn Store> = match &backend {
        Backend::Sqlite(url) => {
            if let Some(parent) = sqlite_path(url).as_deref().and_then(Path::parent)
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).with_context(|| {
                    format!("PORTCULLIS_DATA_DIR: cannot create {}", parent.display())
                })?;
            }
            let store = SqliteStore::connect(url, config.database_max_connections)
                .await
                .map_err(anyhow::Error::new)
                .with_context(|| {
                    format!("PORTCULLIS_DATABASE_URL: cannot open SQLite database {url}")
                })?;
            store
                .migrate()
                .await
                .map_err(anyhow::Error::new)
                .context("applying SQLite migrations")?;
            Arc::new(store)
        }
        Backend::Postgres(url) => {
            let store = PgStore::connect(url, config.database_max_connections)
                .await
                .map_err(anyhow::Error::new)
                .with_context(|| {
                    format!(
                        "PORTCULLIS_DATABASE_URL: cannot reach Postgres at {}",
                        redact_url(url)
                    )
                })?;
            store
                .migrate()
                .await
                .map_err(anyhow::Error::new)
                .context("applying Postgres migrations")?;
            Arc::new(store)
        }
    };
    Ok(store)
}

/// The file path inside a `sqlite:` URL, to create its directory.
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(PathBuf::from(path))
}

/// The key-encryption key: from `key_encryption_key`, else from `key_encryption_key_file`,
/// else (embedded SQLite only) from a file generated into the data directory. A shared
/// Postgres needs an explicit key: every replica must hold the same one.
pub fn resolve_key_encryption_key(config: &Config) -> anyhow::Result<KeyEncryptionKey> {
    if let Some(secret) = &config.key_encryption_key {
        return KeyEncryptionKey::from_base64(secret.expose_secret())
            .context("PORTCULLIS_KEY_ENCRYPTION_KEY");
    }
    if let Some(path) = &config.key_encryption_key_file {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "PORTCULLIS_KEY_ENCRYPTION_KEY_FILE: cannot read {}",
                path.display()
            )
        })?;
        return KeyEncryptionKey::from_base64(&text)
            .with_context(|| format!("PORTCULLIS_KEY_ENCRYPTION_KEY_FILE: {}", path.display()));
    }
    match config.backend()? {
        Backend::Postgres(_) => anyhow::bail!(
            "PORTCULLIS_KEY_ENCRYPTION_KEY (or PORTCULLIS_KEY_ENCRYPTION_KEY_FILE) is required \
             with Postgres: every replica must share it (generate one with `portcullis keys generate-kek`)"
        ),
        Backend::Sqlite(_) => load_or_generate_kek_file(&config.data_dir),
    }
}

fn load_or_generate_kek_file(data_dir: &Path) -> anyhow::Result<KeyEncryptionKey> {
    let path = data_dir.join(GENERATED_KEK_FILE);
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read key-encryption key file {}", path.display()))?;
        return KeyEncryptionKey::from_base64(&text)
            .with_context(|| format!("key-encryption key file {}", path.display()));
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("PORTCULLIS_DATA_DIR: cannot create {}", data_dir.display()))?;
    let (kek, encoded) = KeyEncryptionKey::generate()?;
    write_private_file(&path, encoded.as_bytes())
        .with_context(|| format!("cannot write key-encryption key file {}", path.display()))?;
    tracing::warn!(
        path = %path.display(),
        "no key-encryption key configured: generated one into the data directory (mode 0600); \
         back it up with the database, or set PORTCULLIS_KEY_ENCRYPTION_KEY"
    );
    Ok(kek)
}

/// Creates `path` readable by its owner only; refuses to overwrite.
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_path_is_read_from_the_url() {
        assert_eq!(
            sqlite_path("sqlite://data/p.db"),
            Some(PathBuf::from("data/p.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:///var/lib/p.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/p.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn generated_kek_file_is_owner_only_and_reused() {
        use portcullis_core::Timestamp;
        use portcullis_core::keyring::{KeySet, generate_signing_key};
        use portcullis_core::model::SigningAlg;
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("pc-kek-{}", uuid_like()));

        let first = load_or_generate_kek_file(&dir).unwrap();
        let mode = std::fs::metadata(dir.join(GENERATED_KEK_FILE))
            .unwrap()
            .permissions()
            .mode();
        let sealed = generate_signing_key(SigningAlg::Es256, &first, Timestamp(0), Timestamp(0))
            .await
            .unwrap();
        let again = load_or_generate_kek_file(&dir).unwrap();

        assert_eq!(mode & 0o777, 0o600);
        // The second start reads the same key: what the first sealed, it opens.
        assert!(KeySet::from_records(&[sealed], &again, Timestamp(0)).is_ok());
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn uuid_like() -> String {
        let mut b = [0u8; 8];
        portcullis_core::secret::fill_random(&mut b).unwrap();
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
