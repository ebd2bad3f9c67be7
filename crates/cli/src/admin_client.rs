//! A client for the gateway's admin API (`/admin/v1/...`), one method per endpoint.
//!
//! The commands decide what to send; this module knows the paths, the bearer token and the
//! body shapes, so a change of the admin API touches one file.

use crate::cli::{AdminArgs, DEFAULT_ADMIN_URL, url_or_default};
use crate::http_client::{Refused, Remote};
use anyhow::anyhow;
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value, json};

pub struct AdminClient {
    remote: Remote,
    /// `None` when no token was given (or an empty one): the header is then left out entirely,
    /// since an empty bearer token can never be right.
    token: Option<String>,
}

impl AdminClient {
    pub fn new(args: &AdminArgs) -> anyhow::Result<AdminClient> {
        Ok(AdminClient {
            remote: Remote::new(
                url_or_default(&args.admin_url, DEFAULT_ADMIN_URL),
                &args.trust.certificates()?,
            )?,
            token: args.admin_token.clone().filter(|token| !token.is_empty()),
        })
    }

    /// `POST /admin/v1/keys`: only the fields the user gave are sent, so the server's defaults
    /// (a new uid, no label) apply to the rest.
    pub async fn create_key(
        &self,
        uid: Option<u64>,
        label: Option<&str>,
        isolated_symbols: &[String],
    ) -> anyhow::Result<Value> {
        let mut body = Map::new();
        if let Some(uid) = uid {
            body.insert("uid".into(), json!(uid));
        }
        if let Some(label) = label {
            body.insert("label".into(), json!(label));
        }
        if !isolated_symbols.is_empty() {
            body.insert("isolatedSymbols".into(), json!(isolated_symbols));
        }
        self.post(&["keys"], &body).await
    }

    /// `GET /admin/v1/keys`.
    pub async fn list_keys(&self) -> anyhow::Result<Value> {
        self.send(self.request(Method::GET, &["keys"])).await
    }

    /// `DELETE /admin/v1/keys/{apiKey}`.
    pub async fn revoke_key(&self, api_key: &str) -> anyhow::Result<Value> {
        self.send(self.request(Method::DELETE, &["keys", api_key]))
            .await
    }

    /// `POST /admin/v1/signing-keys`.
    pub async fn rotate_signing_key(&self, activate_in_ms: u64) -> anyhow::Result<Value> {
        self.post(
            &["signing-keys"],
            &json!({ "activateInMs": activate_in_ms }),
        )
        .await
    }

    /// `GET /admin/v1/signing-keys`.
    pub async fn list_signing_keys(&self) -> anyhow::Result<Value> {
        self.send(self.request(Method::GET, &["signing-keys"]))
            .await
    }

    /// `POST /admin/v1/accounts/{uid}/isolated`.
    pub async fn open_isolated(&self, uid: u64, symbol: &str) -> anyhow::Result<Value> {
        let uid = uid.to_string();
        self.post(
            &["accounts", &uid, "isolated"],
            &json!({ "symbol": symbol }),
        )
        .await
    }

    /// `POST /admin/v1/events` with one item or an array of items, already shaped as
    /// `{"uid","isolatedSymbol"?,"event"}`.
    pub async fn publish(&self, items: &Value) -> anyhow::Result<Value> {
        self.post(&["events"], items).await
    }

    /// `POST /admin/v1/faults`.
    pub async fn inject_fault(&self, request: &impl Serialize) -> anyhow::Result<Value> {
        self.post(&["faults"], request).await
    }

    /// `POST /admin/v1/prices`.
    pub async fn set_price(&self, symbol: &str, price: &str) -> anyhow::Result<Value> {
        self.post(&["prices"], &json!({ "symbol": symbol, "price": price }))
            .await
    }

    /// `POST /admin/v1/orders`: Binance's order fields plus `uid` and `isolatedSymbol`.
    pub async fn place_order(&self, order: &Map<String, Value>) -> anyhow::Result<Value> {
        self.post(&["orders"], order).await
    }

    /// `POST /admin/v1/orders/cancel`.
    pub async fn cancel_order(&self, target: &Map<String, Value>) -> anyhow::Result<Value> {
        self.post(&["orders", "cancel"], target).await
    }

    /// `POST /admin/v1/orders/fill`.
    pub async fn fill_order(&self, target: &Map<String, Value>) -> anyhow::Result<Value> {
        self.post(&["orders", "fill"], target).await
    }

    /// `GET /admin/v1/orders?uid=…`.
    pub async fn list_orders(
        &self,
        uid: u64,
        isolated: Option<&str>,
        symbol: Option<&str>,
        all: bool,
    ) -> anyhow::Result<Value> {
        let mut query = vec![("uid", uid.to_string())];
        if let Some(isolated) = isolated {
            query.push(("isolatedSymbol", isolated.to_ascii_uppercase()));
        }
        if let Some(symbol) = symbol {
            query.push(("symbol", symbol.to_owned()));
        }
        if all {
            query.push(("all", "true".to_owned()));
        }
        self.send(self.request(Method::GET, &["orders"]).query(&query))
            .await
    }

    /// `GET /admin/v1/accounts/{uid}`, or one isolated pair.
    pub async fn show_account(&self, uid: u64, isolated: Option<&str>) -> anyhow::Result<Value> {
        let uid = uid.to_string();
        let mut request = self.request(Method::GET, &["accounts", &uid]);
        if let Some(symbol) = isolated {
            request = request.query(&[("isolatedSymbol", symbol.to_ascii_uppercase())]);
        }
        self.send(request).await
    }

    /// `POST /admin/v1/accounts/{uid}/deposits`.
    pub async fn deposit(
        &self,
        uid: u64,
        isolated: Option<&str>,
        asset: &str,
        amount: &str,
    ) -> anyhow::Result<Value> {
        let uid = uid.to_string();
        let mut body = json!({ "asset": asset.to_ascii_uppercase(), "amount": amount });
        if let Some(symbol) = isolated {
            body["isolatedSymbol"] = json!(symbol.to_ascii_uppercase());
        }
        self.post(&["accounts", &uid, "deposits"], &body).await
    }

    /// A request to `/admin/v1/{path…}` (each segment percent-encoded).
    fn request(&self, method: Method, path: &[&str]) -> reqwest::RequestBuilder {
        let segments: Vec<&str> = ["admin", "v1"].iter().chain(path).copied().collect();
        self.remote
            .client()
            .request(method, self.remote.url(&segments))
    }

    async fn post(&self, path: &[&str], body: &impl Serialize) -> anyhow::Result<Value> {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    async fn send(&self, mut request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        self.remote.send(request).await.map_err(|error| {
            let unauthorized = error
                .downcast_ref::<Refused>()
                .is_some_and(|refused| refused.status == StatusCode::UNAUTHORIZED);
            if !unauthorized {
                return error;
            }
            // On the admin API a 401 always means the bearer token; say where it comes from.
            let advice = if self.token.is_some() {
                "the admin token given does not match the one the gateway was started with"
            } else {
                "the gateway requires an admin token: pass --admin-token or set USERSTREAM_ADMIN_TOKEN"
            };
            anyhow!("{error}\nhint: {advice}")
        })
    }
}
