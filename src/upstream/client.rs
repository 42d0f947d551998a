//! [`UpstreamClient`]: the pool of every upstream a configuration names, found by scheme and
//! authority when
//! a snapshot is built (never per request), and kept across reloads while the pool settings
//! stay the same.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use http::uri::{Authority, Scheme};

use super::connect::TlsTarget;
use super::pool::{HostPool, Settings};
use crate::config::UpstreamConfig;
use crate::tls::UpstreamTls;

/// The pools of every configured upstream.
#[derive(Debug)]
pub(crate) struct UpstreamClient<B> {
    settings: Settings,
    /// TLS settings of every `https://` pool.
    tls: Arc<UpstreamTls>,
    pools: Mutex<Pools<B>>,
}

/// The pools by upstream scheme and authority.
type Pools<B> = HashMap<(Scheme, Authority), Arc<HostPool<B>>>;

impl<B> UpstreamClient<B> {
    /// A client with the pool and connect settings of `config`.
    pub(crate) fn new(config: &UpstreamConfig) -> Self {
        UpstreamClient {
            settings: Settings::of(config),
            tls: config.tls.clone(),
            pools: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a client built from `config` would be the same as this one.
    pub(crate) fn settings_match(&self, config: &UpstreamConfig) -> bool {
        self.settings == Settings::of(config) && self.tls.same_as(&config.tls)
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
    pub(crate) fn retain(&self, in_use: &[(&Scheme, &Authority)]) {
        let mut pools = self.pools.lock().unwrap_or_else(PoisonError::into_inner);
        pools.retain(|(scheme, authority), _| in_use.contains(&(scheme, authority)));
    }

    /// The pool of connections to `scheme://authority` (one per upstream, shared by its
    /// routes).
    pub(crate) fn pool(&self, scheme: &Scheme, authority: &Authority) -> Arc<HostPool<B>> {
        let mut pools = self.pools.lock().unwrap_or_else(PoisonError::into_inner);
        let new_pool = || {
            let tls = (*scheme == Scheme::HTTPS).then(|| TlsTarget {
                tls: self.tls.clone(),
                name: self.tls.server_name(authority.host()),
            });
            Arc::new(HostPool::new(authority.clone(), self.settings, tls))
        };
        pools
            .entry((scheme.clone(), authority.clone()))
            .or_insert_with(new_pool)
            .clone()
    }
}
