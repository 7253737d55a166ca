//! `KUPALA_SECTION__KEY=value` environment overrides: any key of the
//! configuration, addressed by its path with `__` between the parts
//! (`KUPALA_SERVER__MAX_CONNECTIONS=2048`, `KUPALA_STORE__SYNC=always`,
//! `KUPALA_FEEDS__TCP__LISTEN=127.0.0.1:9100`). They apply over the file and
//! under the command-line flags. The value is read as the key's type in the
//! defaults: a string as is, a number or a boolean parsed, an array as a
//! TOML array (`KUPALA_SERVER__ALLOWED_ORIGINS='["https://a.example"]'`).
//! A variable naming no key is an error, so a typo does not pass silently.

use anyhow::{Context as _, bail};

/// The prefix of every override; the four flag variables (`KUPALA_CONFIG`,
/// `KUPALA_DATA`, `KUPALA_LISTEN`, `KUPALA_DEMO`) have no `__` and are not
/// overrides.
const PREFIX: &str = "KUPALA_";

/// Applies the overrides among `vars` to `config` (the defaults with the
/// file merged in).
pub fn apply(
    config: &mut toml::Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<()> {
    for (name, value) in vars {
        let Some(path) = name.strip_prefix(PREFIX) else {
            continue;
        };
        if !path.contains("__") {
            continue;
        }
        let parts: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
        set(config, &parts, &value).with_context(|| format!("environment variable {name}"))?;
    }
    Ok(())
}

fn set(table: &mut toml::Table, parts: &[String], value: &str) -> anyhow::Result<()> {
    let Some((last, sections)) = parts.split_last() else {
        bail!("no key");
    };
    let mut at = table;
    for s in sections {
        at = match at.get_mut(s) {
            Some(toml::Value::Table(t)) => t,
            _ => bail!(
                "no section [{}] in the configuration",
                parts[..parts.len() - 1].join(".")
            ),
        };
    }
    let Some(old) = at.get(last) else {
        bail!(
            "no key {} in the configuration (see config/default.toml)",
            parts.join(".")
        );
    };
    let new = typed(old, value)?;
    at.insert(last.clone(), new);
    Ok(())
}

/// `value` read as the type of `like`.
fn typed(like: &toml::Value, value: &str) -> anyhow::Result<toml::Value> {
    Ok(match like {
        toml::Value::String(_) => toml::Value::String(value.to_owned()),
        toml::Value::Integer(_) => toml::Value::Integer(value.trim().parse().context("not an integer")?),
        toml::Value::Float(_) => toml::Value::Float(value.trim().parse().context("not a number")?),
        toml::Value::Boolean(_) => toml::Value::Boolean(value.trim().parse().context("not true or false")?),
        toml::Value::Array(_) | toml::Value::Table(_) | toml::Value::Datetime(_) => {
            let doc: toml::Table = toml::from_str(&format!("v = {value}")).context("not a TOML value")?;
            match doc.get("v") {
                Some(v) if std::mem::discriminant(v) == std::mem::discriminant(like) => v.clone(),
                _ => bail!("not a TOML {}", like.type_str()),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::apply;
    use crate::config::{Config, DEFAULT_TOML};

    fn with(vars: &[(&str, &str)]) -> anyhow::Result<Config> {
        let mut base: toml::Table = toml::from_str(DEFAULT_TOML)?;
        apply(&mut base, vars.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())))?;
        Config::parse(&toml::to_string(&base)?)
    }

    #[test]
    fn overrides_reach_any_key_with_its_type() -> anyhow::Result<()> {
        let c = with(&[
            ("KUPALA_SERVER__MAX_CONNECTIONS", "2048"),
            ("KUPALA_STORE__SYNC", "always"),
            ("KUPALA_FEEDS__TCP__LISTEN", "127.0.0.1:9100"),
            ("KUPALA_DEMO__SPEED", "2.5"),
            ("KUPALA_EOD__ENABLED", "false"),
            ("KUPALA_SERVER__ALLOWED_ORIGINS", r#"["https://a.example"]"#),
            ("KUPALA_DATA", "ignored: a flag variable"),
            ("PATH", "/usr/bin"),
        ])?;
        assert_eq!(c.server.max_connections, 2048);
        assert_eq!(c.store.sync, "always");
        assert_eq!(c.feeds.tcp.listen, "127.0.0.1:9100");
        assert!((c.demo.speed - 2.5).abs() < 1e-12);
        assert!(!c.eod.enabled);
        assert_eq!(c.server.allowed_origins, vec!["https://a.example".to_owned()]);
        Ok(())
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        for (k, v, want) in [
            (
                "KUPALA_SERVER__MAX_CONECTIONS",
                "1",
                "no key server.max_conections",
            ),
            ("KUPALA_NOPE__X", "1", "no section [nope]"),
            ("KUPALA_SERVER__MAX_CONNECTIONS", "many", "not an integer"),
            ("KUPALA_EOD__ENABLED", "yes", "not true or false"),
            ("KUPALA_SERVER__ALLOWED_ORIGINS", "https://a", "not a TOML"),
        ] {
            let err = with(&[(k, v)]).err().map(|e| format!("{e:#}"));
            assert!(
                err.as_deref().is_some_and(|e| e.contains(want) && e.contains(k)),
                "{k}: {err:?}"
            );
        }
        // A bad value of the right type is caught by validation.
        assert!(with(&[("KUPALA_STORE__SYNC", "sometimes")]).is_err());
    }
}
