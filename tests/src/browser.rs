//! A scripted browser over HTTP: keeps cookies, never follows redirects on its own, and
//! reads the hidden fields of our forms, so tests can walk login and consent step by step.

use std::collections::HashMap;

use anyhow::Context as _;
use openidconnect::reqwest;
use url::Url;

/// One browser (its own cookie jar; a clone is the same browser, sharing it).
#[derive(Clone)]
pub struct Browser {
    /// The HTTP client with the cookie jar.
    pub http: reqwest::Client,
    jar: std::sync::Arc<reqwest::cookie::Jar>,
    base_url: String,
}

/// A response read in full.
#[derive(Debug, Clone)]
pub struct Page {
    /// Status code.
    pub status: u16,
    /// `Location`, when a redirect.
    pub location: Option<String>,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body text.
    pub body: String,
}

impl Page {
    /// The value of a hidden (or any) input named `name`, HTML-unescaped.
    pub fn field(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker)? + marker.len();
        let end = self.body[start..].find('"')? + start;
        Some(html_unescape(&self.body[start..end]))
    }

    /// The query parameters of the redirect target.
    pub fn redirect_params(&self) -> anyhow::Result<HashMap<String, String>> {
        let location = self.location.as_deref().context("not a redirect")?;
        let url = Url::parse(location).with_context(|| format!("redirect to {location}"))?;
        Ok(url.query_pairs().into_owned().collect())
    }
}

/// Undoes the HTML escaping of attribute values (named and numeric character references,
/// which is all askama emits).
fn html_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';') else { break };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

impl Browser {
    /// A fresh browser for the server at `base_url`.
    pub fn new(base_url: &str) -> anyhow::Result<Browser> {
        Browser::with(base_url, None, reqwest::header::HeaderMap::new())
    }

    /// A fresh browser that connects from `local` (any 127.0.0.0/8 address is this
    /// machine's loopback, so tests can play several clients) and sends `headers` on every
    /// request (say, a proxy's `X-Forwarded-For`).
    pub fn with(
        base_url: &str,
        local: Option<std::net::IpAddr>,
        headers: reqwest::header::HeaderMap,
    ) -> anyhow::Result<Browser> {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(jar.clone())
            .local_address(local)
            .default_headers(headers)
            .build()?;
        Ok(Browser {
            http,
            jar,
            base_url: base_url.to_owned(),
        })
    }

    /// The value of cookie `name` this browser would send to the server.
    pub fn cookie(&self, name: &str) -> Option<String> {
        use reqwest::cookie::CookieStore as _;
        let url = Url::parse(&self.base_url).ok()?;
        let header = self.jar.cookies(&url)?;
        let prefix = format!("{name}=");
        header
            .to_str()
            .ok()?
            .split("; ")
            .find_map(|c| c.strip_prefix(prefix.as_str()))
            .map(str::to_owned)
    }

    fn absolute(&self, url: &str) -> String {
        if url.starts_with('/') {
            format!("{}{url}", self.base_url)
        } else {
            url.to_owned()
        }
    }

    async fn read(resp: reqwest::Response) -> anyhow::Result<Page> {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let location = headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp.text().await?;
        Ok(Page {
            status,
            location,
            headers,
            body,
        })
    }

    /// GET `url` (absolute, or a path on the server).
    pub async fn get(&self, url: &str) -> anyhow::Result<Page> {
        Self::read(self.http.get(self.absolute(url)).send().await?).await
    }

    /// POSTs a form to `path`.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> anyhow::Result<Page> {
        let body = serde_urlencoded_pairs(fields);
        let resp = self
            .http
            .post(self.absolute(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await?;
        Self::read(resp).await
    }

    /// Submits the login form on `page` with these credentials.
    pub async fn submit_login(
        &self,
        page: &Page,
        username: &str,
        password: &str,
    ) -> anyhow::Result<Page> {
        let csrf = page
            .field("csrf_token")
            .context("login page without csrf_token")?;
        let request = page
            .field("request")
            .context("login page without request")?;
        self.post_form(
            "/login",
            &[
                ("csrf_token", &csrf),
                ("request", &request),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    /// Submits the consent form on `page` with `decision` (`allow` or `deny`).
    pub async fn submit_consent(&self, page: &Page, decision: &str) -> anyhow::Result<Page> {
        let csrf = page
            .field("csrf_token")
            .context("consent page without csrf_token")?;
        let request = page
            .field("request")
            .context("consent page without request")?;
        self.post_form(
            "/consent",
            &[
                ("csrf_token", &csrf),
                ("request", &request),
                ("decision", decision),
            ],
        )
        .await
    }

    /// From an authorization URL, logs in and approves as needed until the server redirects
    /// to the client; returns that final redirect.
    pub async fn sign_in(
        &self,
        authorize_url: &str,
        username: &str,
        password: &str,
    ) -> anyhow::Result<Page> {
        let mut page = self.get(authorize_url).await?;
        if page.status == 200 && page.body.contains("action=\"/login\"") {
            let after = self.submit_login(&page, username, password).await?;
            anyhow::ensure!(
                after.status == 303,
                "login failed: {} {}",
                after.status,
                after.body
            );
            page = self
                .get(after.location.as_deref().context("login redirect")?)
                .await?;
        }
        if page.status == 200 && page.body.contains("action=\"/consent\"") {
            page = self.submit_consent(&page, "allow").await?;
        }
        anyhow::ensure!(
            page.status == 303,
            "expected the redirect to the client, got {} {}",
            page.status,
            page.body
        );
        Ok(page)
    }
}

fn serde_urlencoded_pairs(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::html_unescape;

    #[test]
    fn unescapes_named_and_numeric_references() {
        assert_eq!(
            html_unescape("a=1&#38;b=2&amp;c=&#x27;x&#39;&lt;&gt;&quot;"),
            "a=1&b=2&c='x'<>\""
        );
        assert_eq!(html_unescape("plain & loose"), "plain & loose");
    }
}
