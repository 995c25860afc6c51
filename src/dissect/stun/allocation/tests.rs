//! Unit tests of TURN allocation lifetimes, on capture time.

use super::*;
use crate::dissect::Standalone;

const S: i64 = 1_000_000_000;

fn with_ctx(f: impl FnOnce(&mut Ctx<'_>)) {
    let mut parts = Standalone::new(1000);
    f(&mut parts.ctx(1, ([127, 0, 0, 1], 40000).into(), ([127, 0, 0, 1], 3478).into(), &[]));
}

fn msg(method: u16, class: Class, id: u8) -> StunMessage<'static> {
    StunMessage { method, class: Some(class), transaction_id: [id; 12], ..StunMessage::default() }
}

/// A request at `t` seconds and its response at `t` + 1 ms.
fn exchange(a: &mut Allocations, ctx: &mut Ctx<'_>, req: StunMessage<'static>, mut resp: StunMessage<'static>, t: i64) {
    a.request(ctx, &req, Timestamp(t * S));
    resp.transaction_id = req.transaction_id;
    resp.method = req.method;
    let class = resp.class.unwrap_or(Class::Success);
    a.response(ctx, &resp, class, Timestamp(t * S + 1_000_000));
}

fn peer(port: u16) -> SocketAddr {
    ([10, 0, 0, 9], port).into()
}

#[test]
fn allocate_refresh_delete() {
    let mut a = Allocations::default();
    with_ctx(|ctx| {
        let mut req = msg(ALLOCATE, Class::Request, 1);
        req.lifetime = Some(3600);
        let mut ok = msg(ALLOCATE, Class::Success, 0);
        ok.lifetime = Some(600);
        ok.relayed = Some(peer(49152));
        exchange(&mut a, ctx, req, ok.clone(), 10);
        // The same success again (a retransmitted request answered twice) changes nothing.
        a.response(ctx, &StunMessage { transaction_id: [1; 12], ..ok }, Class::Success, Timestamp(10 * S + 2_000_000));
        let mut r = msg(REFRESH, Class::Request, 2);
        r.lifetime = Some(300);
        let mut g = msg(REFRESH, Class::Success, 0);
        g.lifetime = Some(600);
        exchange(&mut a, ctx, r, g, 100);
        let mut bad = msg(REFRESH, Class::Error, 0);
        bad.error_code = Some(438);
        exchange(&mut a, ctx, msg(REFRESH, Class::Request, 3), bad, 110);
        let mut del = msg(REFRESH, Class::Request, 4);
        del.lifetime = Some(0);
        let mut z = msg(REFRESH, Class::Success, 0);
        z.lifetime = Some(0);
        exchange(&mut a, ctx, del, z, 200);
        a.end(Timestamp(5000 * S));
    });
    let r = a.report(1);
    assert_eq!(r.len(), 1);
    let x = &r[0];
    assert_eq!(
        (x["state"].as_str(), x["lifetime_s"].as_u64(), x["requested_lifetime_s"].as_u64()),
        (Some("deleted"), Some(600), Some(3600))
    );
    assert_eq!(x["created_ts"].to_string(), "10.001000");
    assert_eq!(x["deleted_ts"].to_string(), "200.001000");
    assert!(x["expired_ts"].is_null() && x["expires_ts"].is_null());
    assert_eq!(x["refresh_count"], 3);
    assert_eq!(x["refreshes"][0]["granted_lifetime_s"], 600);
    assert_eq!(x["refreshes"][1]["error_code"], 438);
    assert_eq!(x["refreshes"][2]["requested_lifetime_s"], 0);
    assert_eq!(x["relayed_address"], "10.0.0.9:49152");
    assert_eq!(x["client"], "127.0.0.1:40000");
}

#[test]
fn expiry_permissions_and_channels() {
    let mut a = Allocations::default();
    with_ctx(|ctx| {
        let mut ok = msg(ALLOCATE, Class::Success, 0);
        ok.lifetime = Some(600);
        exchange(&mut a, ctx, msg(ALLOCATE, Class::Request, 1), ok, 0);
        // Permission for 10.0.0.9 at 1 s, refreshed by a ChannelBind at 200 s; the channel
        // refreshed at 450 s (which refreshes the permission too).
        let mut cp = msg(CREATE_PERMISSION, Class::Request, 2);
        cp.peers = vec![peer(1), ([10, 0, 0, 8], 2).into()];
        exchange(&mut a, ctx, cp, msg(CREATE_PERMISSION, Class::Success, 0), 1);
        let mut cb = msg(CHANNEL_BIND, Class::Request, 3);
        cb.peers = vec![peer(5000)];
        cb.channel = Some(0x4001);
        exchange(&mut a, ctx, cb.clone(), msg(CHANNEL_BIND, Class::Success, 0), 200);
        cb.transaction_id = [4; 12];
        exchange(&mut a, ctx, cb, msg(CHANNEL_BIND, Class::Success, 0), 450);
        // A refresh at 550 s for 600 s more: expires at 1150 s.
        let mut g = msg(REFRESH, Class::Success, 0);
        g.lifetime = Some(600);
        exchange(&mut a, ctx, msg(REFRESH, Class::Request, 5), g, 550);
        a.end(Timestamp(2000 * S));
    });
    let x = &a.report(1)[0];
    assert_eq!(x["state"], "expired");
    assert_eq!(x["expired_ts"].to_string(), "1150.001000");
    let p = &x["permissions"];
    assert_eq!(p.as_array().map(Vec::len), Some(2));
    assert_eq!((p[0]["peer"].as_str(), p[0]["refreshes"].as_u64()), (Some("10.0.0.9"), Some(2)));
    assert_eq!(p[0]["by"], json!(["create_permission", "channel_bind"]));
    assert_eq!(p[0]["expired_ts"].to_string(), "750.001000", "300 s after the last refresh");
    assert_eq!(p[1]["expired_ts"].to_string(), "301.001000", "never refreshed");
    let c = &x["channels"][0];
    assert_eq!((c["channel"].as_str(), c["refreshes"].as_u64()), (Some("0x4001"), Some(1)));
    assert_eq!(c["expired_ts"].to_string(), "1050.001000", "600 s after its refresh");
}

#[test]
fn still_active_at_the_end_and_refresh_after_expiry() {
    let mut a = Allocations::default();
    with_ctx(|ctx| {
        let mut ok = msg(ALLOCATE, Class::Success, 0);
        ok.lifetime = Some(60);
        exchange(&mut a, ctx, msg(ALLOCATE, Class::Request, 1), ok.clone(), 0);
        // Too late: the allocation had expired at 60 s; a refresh success is not applied.
        let mut g = msg(REFRESH, Class::Success, 0);
        g.lifetime = Some(600);
        exchange(&mut a, ctx, msg(REFRESH, Class::Request, 2), g, 100);
        // A new allocation on the same 5-tuple, alive when the capture ends.
        exchange(&mut a, ctx, msg(ALLOCATE, Class::Request, 3), ok, 120);
        a.end(Timestamp(150 * S));
    });
    let r = a.report(1);
    assert_eq!((r[0]["state"].as_str(), r[0]["refresh_count"].as_u64()), (Some("expired"), Some(0)));
    assert_eq!(r[0]["expired_ts"].to_string(), "60.001000");
    assert_eq!(r[1]["state"], "active");
    assert_eq!(r[1]["expires_ts"].to_string(), "180.001000");
    // Caps: pending requests and allocations are bounded.
    let mut b = Allocations::default();
    with_ctx(|ctx| {
        for i in 0..(MAX_PENDING + 10) {
            let mut m = msg(ALLOCATE, Class::Request, 0);
            m.transaction_id[..8].copy_from_slice(&(i as u64).to_be_bytes());
            b.request(ctx, &m, Timestamp(0));
        }
        assert_eq!(b.pending.len(), MAX_PENDING);
        for i in 0..(MAX_ALLOCATIONS + 3) {
            let mut m = msg(ALLOCATE, Class::Success, 0);
            m.transaction_id[..8].copy_from_slice(&(i as u64).to_be_bytes());
            m.lifetime = Some(0);
            b.response(ctx, &m, Class::Success, Timestamp(i as i64));
        }
    });
    assert_eq!((b.list.len(), b.over_cap()), (MAX_ALLOCATIONS, 3));
}
