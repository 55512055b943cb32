//! Callbacks from upstreams (spec/upstreams.md): Digiflazz (`X-Hub-Signature: sha1=...`) and
//! isikuota (`X-Signature`), each verified with the upstream's secret, resolving the pending
//! payment they name at once. Idempotent: a settled payment is answered as it is.

use crate::gateway::apply_outcome;
use crate::AppState;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use loket_billers::Connector;
use loket_core::PaymentState;
use serde_json::json;

/// Largest callback body accepted.
const MAX_BODY: usize = 64 * 1024;

fn reply(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"success": status.is_success(), "message": message})),
    )
        .into_response()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// `POST /webhooks/{kind}/{upstream}`.
pub async fn receive(
    State(state): State<AppState>,
    Path((kind, name)): Path<(String, String)>,
    req: Request,
) -> Response {
    let headers = req.headers().clone();
    let body = match crate::iak::read_limited(req.into_body(), MAX_BODY).await {
        Ok(b) => b,
        Err(true) => return reply(StatusCode::PAYLOAD_TOO_LARGE, "body too large"),
        Err(false) => return reply(StatusCode::BAD_REQUEST, "unreadable body"),
    };
    let Some(up) = state.upstreams.get(&state.store, &name).await else {
        return reply(StatusCode::NOT_FOUND, "unknown upstream");
    };
    let parsed = match (&up.connector, kind.as_str()) {
        (Connector::Digiflazz(c), "digiflazz") => {
            if !c.verify_webhook(&body, header(&headers, "x-hub-signature")) {
                return reply(StatusCode::UNAUTHORIZED, "invalid signature");
            }
            loket_billers::digiflazz::transformers::parse_webhook(&body)
        }
        (Connector::Isikuota(c), "isikuota") => {
            if !c.verify_webhook(&body, header(&headers, "x-signature")) {
                return reply(StatusCode::UNAUTHORIZED, "invalid signature");
            }
            loket_billers::isikuota::transformers::parse_webhook(&body)
        }
        _ => return reply(StatusCode::NOT_FOUND, "unknown upstream"),
    };
    let Some((ref_id, outcome)) = parsed else {
        return reply(StatusCode::BAD_REQUEST, "unreadable callback");
    };
    let quote = match state.store.quote_by_upstream_ref(&name, &ref_id).await {
        Ok(Some(q)) => q,
        Ok(None) => return reply(StatusCode::NOT_FOUND, "unknown ref_id"),
        Err(e) => {
            tracing::error!(error = %e, "upstream callback: store failure");
            return reply(StatusCode::INTERNAL_SERVER_ERROR, "try again");
        }
    };
    let payment = match state.store.payment_by_tr_id(quote.tr_id).await {
        Ok(Some(p)) => p,
        Ok(None) => return reply(StatusCode::NOT_FOUND, "no payment for this ref_id"),
        Err(e) => {
            tracing::error!(error = %e, "upstream callback: store failure");
            return reply(StatusCode::INTERNAL_SERVER_ERROR, "try again");
        }
    };
    if payment.state != PaymentState::Pending {
        return reply(StatusCode::OK, "already settled");
    }
    match apply_outcome(
        &state,
        &quote,
        &payment,
        outcome,
        Some(format!("webhook {name}")),
        &up.breaker,
    )
    .await
    {
        Ok(p) => {
            tracing::info!(tr_id = p.tr_id, upstream = %name, state = p.state.as_str(), "upstream callback");
            reply(StatusCode::OK, p.state.as_str())
        }
        Err(e) => {
            tracing::error!(error = %e, "upstream callback: store failure");
            reply(StatusCode::INTERNAL_SERVER_ERROR, "try again")
        }
    }
}
