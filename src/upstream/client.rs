//! [`UpstreamClient`]: the pool of every upstream a configuration names, found by authority when
//! a snapshot is built (never per request), and kept across reloads while the pool settings
//! stay the same.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use http::uri::Authority;

use super::pool::{HostPool, Settings};
use crate::config::UpstreamConfig;

/// The pools of every configured upstream.
#[derive(Debug)]
pub(crate) struct UpstreamClient<B> {
    settings: Settings,
    pools: Mutex<HashMap<Authority, Arc<HostPool<B>>>>,
}

impl<B> UpstreamClient<B> {
    /// A client with the pool and connect settings of `config`.
    pub(crate) fn new(config: &UpstreamConfig) -> Self {
        UpstreamClient {
            settings: Settings::of(config),
            pools: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a client built from `config` would be the same as this one.
    pub(crate) fn settings_match(&self, config: &UpstreamConfig) -> bool {
        self.settings == Settings::of(config)
    }

    /// Closes idle connections past `pool_idle_timeout` in every pool.
    pub(crate) fn reap(&self) {
        let pools: Vec<Arc<HostPool<B>>> = self
            .pools
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        for pool in pools {
            pool.reap();
        }
    }

    /// Forgets the pools of upstreams no longer configured (routes of older snapshots still
    /// hold theirs until their last request ends).
    pub(crate) fn retain(&self, in_use: &[&Authority]) {
        let mut pools = self.pools.lock().unwrap_or_else(PoisonError::into_inner);
        pools.retain(|authority, _| in_use.contains(&authority));
    }

    /// The pool of connections to `authority` (one per upstream, shared by its routes).
    pub(crate) fn pool(&self, authority: &Authority) -> Arc<HostPool<B>> {
        let mut pools = self.pools.lock().unwrap_or_else(PoisonError::into_inner);
        pools
            .entry(authority.clone())
            .or_insert_with(|| Arc::new(HostPool::new(authority.clone(), self.settings)))
            .clone()
    }
}
