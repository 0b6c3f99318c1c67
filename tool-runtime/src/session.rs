//! Who is calling: set by the host application from its own login, never from model input.

use std::sync::Arc;
use std::time::SystemTime;

use crate::role::{Role, RoleId};

/// The caller of a tool. Cheap to clone.
///
/// The host builds it from its own authentication; nothing the model sends can change it.
#[derive(Clone, Debug)]
pub struct Session {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    user: Option<(String, RoleId)>,
    expires_at: Option<SystemTime>,
    client: Option<String>,
}

impl Session {
    /// No logged-in user: only `public` tools exist for it.
    pub fn anonymous() -> Self {
        Session {
            inner: Arc::new(Inner {
                user: None,
                expires_at: None,
                client: None,
            }),
        }
    }

    /// A logged-in user with a role.
    pub fn authenticated(user_id: impl Into<String>, role: impl Role) -> Self {
        Session {
            inner: Arc::new(Inner {
                user: Some((user_id.into(), role.id())),
                expires_at: None,
                client: None,
            }),
        }
    }

    /// The session stops being authenticated at `t`.
    pub fn expires_at(self, t: SystemTime) -> Self {
        Session {
            inner: Arc::new(Inner {
                user: self.inner.user.clone(),
                expires_at: Some(t),
                client: self.inner.client.clone(),
            }),
        }
    }

    /// The user's id, while the session is authenticated and not expired.
    pub fn user_id(&self) -> Option<&str> {
        self.live_user().map(|(id, _)| id.as_str())
    }

    /// The user's role, while the session is authenticated and not expired.
    pub fn role(&self) -> Option<RoleId> {
        self.live_user().map(|(_, role)| *role)
    }

    /// Whether the user has `role` or one above it.
    pub fn has_role(&self, role: impl Role) -> bool {
        self.role().is_some_and(|r| r.satisfies(&role.id()))
    }

    /// Whether a user is logged in and the session has not expired.
    pub fn is_authenticated(&self) -> bool {
        self.live_user().is_some()
    }

    /// Whether the session had an expiry and it has passed.
    pub fn is_expired(&self) -> bool {
        self.inner
            .expires_at
            .is_some_and(|t| SystemTime::now() >= t)
    }

    /// Who is calling when nobody is logged in, as the host knows it (an address, a connection
    /// id): rate limits then apply per client. Without it, every anonymous caller shares one
    /// budget per tool, and so does every expired session.
    pub fn with_client(self, key: impl Into<String>) -> Self {
        Session {
            inner: Arc::new(Inner {
                user: self.inner.user.clone(),
                expires_at: self.inner.expires_at,
                client: Some(key.into()),
            }),
        }
    }

    /// The key rate limits count this session under: the user, else the client, else the one
    /// budget all anonymous callers share.
    pub fn rate_key(&self) -> std::borrow::Cow<'_, str> {
        match (self.user_id(), &self.inner.client) {
            (Some(user), _) => std::borrow::Cow::Owned(format!("user:{user}")),
            (None, Some(client)) => std::borrow::Cow::Owned(format!("client:{client}")),
            (None, None) => std::borrow::Cow::Borrowed("anonymous"),
        }
    }

    /// The user id as the session was built, even after expiry: for the audit log.
    pub fn claimed_user_id(&self) -> Option<&str> {
        self.inner.user.as_ref().map(|(id, _)| id.as_str())
    }

    fn live_user(&self) -> Option<&(String, RoleId)> {
        if self.is_expired() {
            return None;
        }
        self.inner.user.as_ref()
    }
}
