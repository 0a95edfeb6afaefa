//! `place_orders` over `POST /api/v1/private/order/submit_batch`: up to 50 orders a request,
//! one request per 2 s, and only for keys MEXC support has given the permission. Every item
//! keeps the single-order rules: an item whose outcome is unknown is `Unknown` (looked up by
//! client id, never re-sent), a refused item is that order's refusal only. A refusal for
//! want of permission (the whole batch refused: nothing was placed) switches the account to
//! single orders for good.

use super::model::BatchItem;
use super::parse;
use super::MexcVenue;
use crate::domain::{OrderAck, OrderKind, OrderRequest};
use crate::venue::{RejectKind, Venue, VenueError};
use futures::future::join_all;
use serde_json::Value;
use std::sync::atomic::Ordering;

/// Orders one `submit_batch` request may hold.
pub const MAX_ORDERS: usize = 50;

pub async fn place(
    venue: &MexcVenue,
    requests: &[OrderRequest],
) -> Vec<Result<OrderAck, VenueError>> {
    let mut results = Vec::with_capacity(requests.len());
    for chunk in requests.chunks(MAX_ORDERS) {
        if chunk.len() == 1 || venue.batch_refused.load(Ordering::Relaxed) {
            // One order per symbol, as the executor would send them without a batch: side by
            // side (the limiter paces them), each with its own answer and lookup.
            results.extend(join_all(chunk.iter().map(|r| venue.place_order(r))).await);
            continue;
        }
        results.extend(place_chunk(venue, chunk).await);
    }
    results
}

async fn place_chunk(
    venue: &MexcVenue,
    chunk: &[OrderRequest],
) -> Vec<Result<OrderAck, VenueError>> {
    // Bodies are built (and checked) one by one; an order refused locally is left out.
    let mut bodies = Vec::with_capacity(chunk.len());
    let mut results: Vec<Option<Result<OrderAck, VenueError>>> = Vec::with_capacity(chunk.len());
    for request in chunk {
        match venue.order_body(request).await {
            Ok(body) => {
                bodies.push(body);
                results.push(None);
            }
            Err(e) => results.push(Some(Err(e))),
        }
    }
    if bodies.is_empty() {
        return results.into_iter().flatten().collect();
    }
    let body = format!("[{}]", bodies.join(","));
    let data = match venue
        .rest
        .post("/api/v1/private/order/submit_batch", body)
        .await
    {
        Ok(data) => data,
        Err(e) if parse::is_batch_permission_refusal(&e) => {
            // Refused as a whole before anything was placed: single orders from now on.
            tracing::warn!(account = %venue.account, error = %e, "mexc refused submit_batch for want of permission; placing orders one by one from now on");
            venue.batch_refused.store(true, Ordering::Relaxed);
            return join_all(chunk.iter().zip(results).map(|(request, done)| async move {
                match done {
                    Some(r) => r,
                    None => venue.place_order(request).await,
                }
            }))
            .await;
        }
        Err(e) => {
            // Unknown, rate limited, auth: the same answer for every item sent.
            return chunk
                .iter()
                .zip(results)
                .map(|(_, done)| done.unwrap_or_else(|| Err(e.clone())))
                .collect();
        }
    };
    let items: Vec<BatchItem> = match &data {
        Value::Array(_) => serde_json::from_value(data.clone()).unwrap_or_default(),
        _ => Vec::new(),
    };
    let ctx = venue.rest.ctx_for("POST order/submit_batch");
    let mut out = Vec::with_capacity(chunk.len());
    for (request, done) in chunk.iter().zip(results) {
        if let Some(r) = done {
            out.push(r);
            continue;
        }
        let cid = request.client_order_id.as_str();
        let oid = super::wire_oid(cid);
        let item = items.iter().find(|i| i.external_oid == oid);
        out.push(match item {
            // Sent, and the answer does not say what became of it.
            None => Err(VenueError::Unknown(ctx.describe(format!(
                "submit_batch answered without an item for {cid}"
            )))),
            Some(i) if i.error_code != 0 => Err(parse::item_error(i.error_code, &i.error_msg, ctx)),
            Some(i) if i.order_id.is_empty() => Err(VenueError::Unknown(ctx.describe(format!(
                "submit_batch item {cid} has neither an order id nor an error"
            )))),
            Some(i) => {
                let ack = venue
                    .settle(
                        &request.native,
                        cid,
                        &i.order_id,
                        request.kind == OrderKind::Market,
                    )
                    .await;
                same_order(venue, request, ack)
            }
        });
    }
    out
}

/// A reused `externalOid` makes `submit_batch` answer with the order that already has it:
/// an order found under our id that is not this request is a duplicate, never a fill.
pub fn same_order(
    venue: &MexcVenue,
    request: &OrderRequest,
    ack: OrderAck,
) -> Result<OrderAck, VenueError> {
    // The volume sent: the request rounded toward zero to the contract step.
    let sent = venue
        .instruments
        .get(&request.native)
        .map(|i| i.round_to_lot(request.qty));
    let differs = ack.native.as_deref().is_some_and(|n| n != request.native)
        || ack.side.is_some_and(|s| s != request.side)
        || ack.qty.is_some_and(|q| q != request.qty && Some(q) != sent);
    if differs {
        return Err(VenueError::rejected(
            RejectKind::DuplicateClientId,
            "local",
            format!(
                "mexc: externalOid {} already names another order ({:?} {:?} {:?})",
                request.client_order_id, ack.native, ack.side, ack.qty
            ),
        ));
    }
    Ok(ack)
}
