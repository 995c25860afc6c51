//! TURN allocation lifetimes on one client↔server 5-tuple (RFC 8656): an allocation is made by
//! an Allocate success (§7.3: granted LIFETIME, XOR-RELAYED-ADDRESS), kept alive by Refresh
//! (§7.4 / §8: the granted LIFETIME counts from the response), deleted by a Refresh with
//! LIFETIME 0 (§8), or expires when its lifetime passes without a refresh (§7: judged in
//! capture time, up to the end of the capture). Permissions (§9: per peer IP, 300 s) are
//! installed or refreshed by CreatePermission (§10) and ChannelBind (§11.2); channel bindings
//! (§12: 600 s) by ChannelBind. Report section `turn_allocations`; events
//! `turn.allocation.created`, `turn.allocation.refreshed`, `turn.allocation.deleted`.

use super::message::{Class, StunMessage};
use crate::dissect::Ctx;
use crate::flow::FlowId;
use crate::report::json_ts;
use crate::time::Timestamp;
use crate::timeline::{Event, FieldValue};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

/// Allocations kept per 5-tuple (one at a time is normal; each new one follows a deletion).
const MAX_ALLOCATIONS: usize = 64;
/// Requests waiting for their response.
const MAX_PENDING: usize = 256;
/// Refreshes, permissions and channels listed per allocation.
const MAX_LISTED: usize = 256;
/// Answered transaction ids remembered to recognise a response sent twice.
const MAX_ANSWERED: usize = 1024;

/// RFC 8656 §9: a permission lasts 300 s unless refreshed.
pub const PERMISSION_LIFETIME_S: u64 = 300;
/// RFC 8656 §12: a channel binding lasts 600 s unless refreshed.
pub const CHANNEL_LIFETIME_S: u64 = 600;
/// RFC 8656 §7.2: the default allocation lifetime, for a success that omits LIFETIME.
pub const DEFAULT_LIFETIME_S: u32 = 600;

const ALLOCATE: u16 = 0x003;
const REFRESH: u16 = 0x004;
const CREATE_PERMISSION: u16 = 0x008;
const CHANNEL_BIND: u16 = 0x009;

/// A request waiting for its answer.
#[derive(Debug, Clone)]
struct Pending {
    method: u16,
    ts: Timestamp,
    lifetime: Option<u32>,
    peers: Vec<SocketAddr>,
    channel: Option<u16>,
}

/// One Refresh transaction.
#[derive(Debug, Clone)]
struct Refresh {
    request_ts: Option<Timestamp>,
    ts: Timestamp,
    requested: Option<u32>,
    granted: Option<u32>,
    error_code: Option<u16>,
}

/// A permission for one peer IP address.
#[derive(Debug, Clone)]
struct Permission {
    peer: IpAddr,
    created: Timestamp,
    last: Timestamp,
    refreshes: u64,
    /// Installed or refreshed by CreatePermission and/or ChannelBind.
    by_create_permission: bool,
    by_channel_bind: bool,
}

/// A channel binding.
#[derive(Debug, Clone)]
struct Channel {
    channel: u16,
    peer: Option<SocketAddr>,
    bound: Timestamp,
    last: Timestamp,
    refreshes: u64,
}

/// One allocation.
#[derive(Debug, Clone)]
struct Allocation {
    request_ts: Option<Timestamp>,
    created: Timestamp,
    relayed: Option<SocketAddr>,
    mapped: Option<SocketAddr>,
    requested: Option<u32>,
    granted: u32,
    /// When it expires unless refreshed, as of the last success.
    expires: Timestamp,
    last_lifetime: u32,
    refreshes: Vec<Refresh>,
    refreshes_not_listed: u64,
    deleted: Option<Timestamp>,
    permissions: Vec<Permission>,
    channels: Vec<Channel>,
    not_listed: u64,
}

impl Allocation {
    /// When it ended, if it did by `end`: deleted, or expired at its expiry time.
    fn ended(&self, end: Option<Timestamp>) -> Option<Timestamp> {
        self.deleted.or_else(|| end.filter(|e| self.expires <= *e).map(|_| self.expires))
    }
}

/// The TURN allocations of one 5-tuple.
#[derive(Debug, Default)]
pub struct Allocations {
    /// `udp` or `tcp`: the client's transport.
    pub transport: Option<&'static str>,
    client: Option<SocketAddr>,
    server: Option<SocketAddr>,
    pending: BTreeMap<[u8; 12], Pending>,
    answered: Vec<[u8; 12]>,
    list: Vec<Allocation>,
    over_cap: u64,
    /// Capture time known up to (the flow's end).
    end: Option<Timestamp>,
}

fn expiry(from: Timestamp, secs: u64) -> Timestamp {
    from.plus_secs(secs)
}

impl Allocations {
    /// A request or indication from the client: Allocate, Refresh, CreatePermission and
    /// ChannelBind wait for their answer.
    pub fn request(&mut self, ctx: &Ctx<'_>, m: &StunMessage<'_>, ts: Timestamp) {
        self.client.get_or_insert(ctx.client);
        self.server.get_or_insert(ctx.server);
        if m.class != Some(Class::Request) || !matches!(m.method, ALLOCATE | REFRESH | CREATE_PERMISSION | CHANNEL_BIND)
        {
            return;
        }
        if self.pending.contains_key(&m.transaction_id) {
            return; // retransmitted
        }
        if self.pending.len() >= MAX_PENDING {
            self.pending.pop_first();
        }
        let p = Pending { method: m.method, ts, lifetime: m.lifetime, peers: m.peers.clone(), channel: m.channel };
        self.pending.insert(m.transaction_id, p);
    }

    /// A success or error response from the server.
    pub fn response(&mut self, ctx: &mut Ctx<'_>, m: &StunMessage<'_>, class: Class, ts: Timestamp) {
        if self.answered.contains(&m.transaction_id) {
            return; // the same response again
        }
        // A response answers the request of the same method only.
        let req = self.pending.remove(&m.transaction_id).filter(|r| r.method == m.method);
        if req.is_some() {
            if self.answered.len() >= MAX_ANSWERED {
                self.answered.remove(0);
            }
            self.answered.push(m.transaction_id);
        }
        match (m.method, class) {
            (ALLOCATE, Class::Success) => self.allocated(ctx, m, req.as_ref(), ts),
            (REFRESH, _) => self.refreshed(ctx, m, class, req.as_ref(), ts),
            (CREATE_PERMISSION, Class::Success) => {
                for p in req.map(|r| r.peers).unwrap_or_default() {
                    self.permit(p.ip(), ts, false);
                }
            }
            (CHANNEL_BIND, Class::Success) => {
                let Some(r) = req else { return };
                if let Some(p) = r.peers.last() {
                    self.permit(p.ip(), ts, true);
                }
                if let Some(ch) = r.channel {
                    self.bind(ch, r.peers.last().copied(), ts);
                }
            }
            _ => {}
        }
    }

    /// The capture (or the flow) ended at `ts`: what has not been refreshed by then expired.
    pub fn end(&mut self, ts: Timestamp) {
        self.end = Some(self.end.map_or(ts, |e| e.max(ts)));
    }

    /// The allocation in force at `ts` (the last one, if neither deleted nor expired).
    fn current(&mut self, ts: Timestamp) -> Option<&mut Allocation> {
        self.list.last_mut().filter(|a| a.ended(Some(ts)).is_none())
    }

    fn allocated(&mut self, ctx: &mut Ctx<'_>, m: &StunMessage<'_>, req: Option<&Pending>, ts: Timestamp) {
        if self.list.len() >= MAX_ALLOCATIONS {
            self.over_cap += 1;
            return;
        }
        let granted = m.lifetime.unwrap_or(DEFAULT_LIFETIME_S);
        self.list.push(Allocation {
            request_ts: req.map(|r| r.ts),
            created: ts,
            relayed: m.relayed,
            mapped: m.mapped,
            requested: req.and_then(|r| r.lifetime),
            granted,
            expires: expiry(ts, u64::from(granted)),
            last_lifetime: granted,
            refreshes: Vec::new(),
            refreshes_not_listed: 0,
            deleted: None,
            permissions: Vec::new(),
            channels: Vec::new(),
            not_listed: 0,
        });
        let mut ev =
            Event::new(ts, Some(ctx.flow), "stun", "turn.allocation.created", Some(crate::flow::Direction::S2C))
                .with("lifetime_s", FieldValue::U64(u64::from(granted)));
        if let Some(r) = m.relayed {
            ev = ev.with("relayed", FieldValue::Str(r.to_string()));
        }
        ctx.emit(ev);
    }

    fn refreshed(
        &mut self,
        ctx: &mut Ctx<'_>,
        m: &StunMessage<'_>,
        class: Class,
        req: Option<&Pending>,
        ts: Timestamp,
    ) {
        let flow = ctx.flow;
        let Some(a) = self.current(ts) else { return };
        let requested = req.and_then(|r| r.lifetime);
        let granted =
            if class == Class::Success { Some(m.lifetime.or(requested).unwrap_or(DEFAULT_LIFETIME_S)) } else { None };
        let r = Refresh { request_ts: req.map(|r| r.ts), ts, requested, granted, error_code: m.error_code };
        if a.refreshes.len() < MAX_LISTED {
            a.refreshes.push(r);
        } else {
            a.refreshes_not_listed += 1;
        }
        let Some(g) = granted else { return };
        let dir = Some(crate::flow::Direction::S2C);
        if g == 0 {
            a.deleted = Some(ts);
            a.last_lifetime = 0;
            ctx.emit(Event::new(ts, Some(flow), "stun", "turn.allocation.deleted", dir));
        } else {
            a.expires = expiry(ts, u64::from(g));
            a.last_lifetime = g;
            ctx.emit(
                Event::new(ts, Some(flow), "stun", "turn.allocation.refreshed", dir)
                    .with("lifetime_s", FieldValue::U64(u64::from(g))),
            );
        }
    }

    /// A permission for `peer` installed or refreshed at `ts` (RFC 8656 §9.1); one that had
    /// already expired is a new one.
    fn permit(&mut self, peer: IpAddr, ts: Timestamp, by_channel_bind: bool) {
        let Some(a) = self.current(ts) else { return };
        let live = a.permissions.iter().rposition(|p| p.peer == peer && expiry(p.last, PERMISSION_LIFETIME_S) > ts);
        if let Some(p) = live.and_then(|i| a.permissions.get_mut(i)) {
            p.last = ts;
            p.refreshes += 1;
            p.by_channel_bind |= by_channel_bind;
            p.by_create_permission |= !by_channel_bind;
        } else if a.permissions.len() < MAX_LISTED {
            a.permissions.push(Permission {
                peer,
                created: ts,
                last: ts,
                refreshes: 0,
                by_create_permission: !by_channel_bind,
                by_channel_bind,
            });
        } else {
            a.not_listed += 1;
        }
    }

    /// A channel bound or its binding refreshed at `ts` (RFC 8656 §11.2).
    fn bind(&mut self, channel: u16, peer: Option<SocketAddr>, ts: Timestamp) {
        let Some(a) = self.current(ts) else { return };
        let live = a.channels.iter().rposition(|c| c.channel == channel && expiry(c.last, CHANNEL_LIFETIME_S) > ts);
        if let Some(c) = live.and_then(|i| a.channels.get_mut(i)) {
            c.last = ts;
            c.refreshes += 1;
        } else if a.channels.len() < MAX_LISTED {
            a.channels.push(Channel { channel, peer, bound: ts, last: ts, refreshes: 0 });
        } else {
            a.not_listed += 1;
        }
    }

    /// One `turn_allocations` entry per allocation.
    pub fn report(&self, flow: FlowId) -> Vec<Value> {
        let end = self.end;
        self.list
            .iter()
            .map(|a| {
                let ended = a.ended(end);
                let expired = if a.deleted.is_none() { ended } else { None };
                // Permissions and channels end with the allocation at the latest.
                let until = match (ended, end) {
                    (Some(e), _) => Some(e),
                    (None, e) => e,
                };
                let lapse = |last: Timestamp, secs: u64| {
                    let at = expiry(last, secs);
                    until.filter(|u| at <= *u).map(|_| at)
                };
                let permissions: Vec<Value> = a
                    .permissions
                    .iter()
                    .map(|p| {
                        let mut by = Vec::new();
                        if p.by_create_permission {
                            by.push("create_permission");
                        }
                        if p.by_channel_bind {
                            by.push("channel_bind");
                        }
                        json!({
                            "peer": p.peer.to_string(), "created_ts": json_ts(p.created), "refreshes": p.refreshes,
                            "last_refresh_ts": json_ts(p.last), "by": by,
                            "expires_ts": json_ts(expiry(p.last, PERMISSION_LIFETIME_S)),
                            "expired_ts": lapse(p.last, PERMISSION_LIFETIME_S).map(json_ts),
                        })
                    })
                    .collect();
                let channels: Vec<Value> = a
                    .channels
                    .iter()
                    .map(|c| {
                        json!({
                            "channel": format!("0x{:04x}", c.channel), "peer": c.peer.map(|p| p.to_string()),
                            "bound_ts": json_ts(c.bound), "refreshes": c.refreshes, "last_refresh_ts": json_ts(c.last),
                            "expires_ts": json_ts(expiry(c.last, CHANNEL_LIFETIME_S)),
                            "expired_ts": lapse(c.last, CHANNEL_LIFETIME_S).map(json_ts),
                        })
                    })
                    .collect();
                let refreshes: Vec<Value> = a
                    .refreshes
                    .iter()
                    .map(|r| {
                        json!({
                            "request_ts": r.request_ts.map(json_ts), "ts": json_ts(r.ts),
                            "requested_lifetime_s": r.requested, "granted_lifetime_s": r.granted,
                            "error_code": r.error_code,
                        })
                    })
                    .collect();
                let state = match (a.deleted, expired) {
                    (Some(_), _) => "deleted",
                    (None, Some(_)) => "expired",
                    (None, None) => "active",
                };
                json!({
                    "flow": flow, "transport": self.transport,
                    "client": self.client.map(|c| c.to_string()), "server": self.server.map(|s| s.to_string()),
                    "request_ts": a.request_ts.map(json_ts), "created_ts": json_ts(a.created),
                    "relayed_address": a.relayed.map(|r| r.to_string()),
                    "mapped_address": a.mapped.map(|r| r.to_string()),
                    "requested_lifetime_s": a.requested, "lifetime_s": a.granted,
                    "refreshes": refreshes, "refresh_count": a.refreshes.len() as u64 + a.refreshes_not_listed,
                    "last_lifetime_s": a.last_lifetime, "expires_ts": (a.deleted.is_none()).then(|| json_ts(a.expires)),
                    "deleted_ts": a.deleted.map(json_ts), "expired_ts": expired.map(json_ts), "state": state,
                    "seen_until_ts": end.map(json_ts),
                    "permissions": permissions, "channels": channels, "not_listed": a.not_listed,
                })
            })
            .collect()
    }

    /// Allocate successes beyond the cap, not tracked.
    pub fn over_cap(&self) -> u64 {
        self.over_cap
    }
}

#[cfg(test)]
mod tests;
