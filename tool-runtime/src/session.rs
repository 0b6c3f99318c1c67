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
}

impl Session {
    /// No logged-in user: only `public` tools exist for it.
    pub fn anonymous() -> Self {
        Session {
            inner: Arc::new(Inner {
                user: None,
                expires_at: None,
            }),
        }
    }

    /// A logged-in user with a role.
    pub fn authenticated(user_id: impl Into<String>, role: impl Role) -> Self {
        Session {
            inner: Arc::new(Inner {
                user: Some((user_id.into(), role.id())),
                expires_at: None,
            }),
        }
    }

    /// The session stops being authenticated at `t`.
    pub fn expires_at(self, t: SystemTime) -> Self {
        Session {
            inner: Arc::new(Inner {
                user: self.inner.user.clone(),
                expires_at: Some(t),
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
