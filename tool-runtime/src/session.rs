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

#[derive(Clone, Debug)]
struct Inner {
    user: Option<(String, RoleId)>,
    expires_at: Option<SystemTime>,
    client: Option<String>,
    /// `None`: the role alone decides, as for a host's own login.
    scopes: Option<Scopes>,
    token_id: Option<String>,
}

/// What an access token lets a session do, within what its role allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `tools:read`: the tools declared `read_only`.
    Read,
    /// `tools:write`: every other tool (destructive ones still need the person's approval).
    Write,
}

impl Scope {
    /// Every scope, in the order a challenge lists them.
    pub const ALL: [Scope; 2] = [Scope::Read, Scope::Write];

    /// The scope's name in a token's `scope` claim.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "tools:read",
            Scope::Write => "tools:write",
        }
    }

    /// The scope a name in a token's `scope` claim stands for; other names mean nothing here.
    pub fn parse(name: &str) -> Option<Scope> {
        match name {
            "tools:read" => Some(Scope::Read),
            "tools:write" => Some(Scope::Write),
            _ => None,
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Scopes {
    read: bool,
    write: bool,
}

impl Session {
    /// No logged-in user: only `public` tools exist for it.
    pub fn anonymous() -> Self {
        Session {
            inner: Arc::new(Inner {
                user: None,
                expires_at: None,
                client: None,
                scopes: None,
                token_id: None,
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
                scopes: None,
                token_id: None,
            }),
        }
    }

    /// The session stops being authenticated at `t`.
    pub fn expires_at(self, t: SystemTime) -> Self {
        self.with(|inner| inner.expires_at = Some(t))
    }

    /// Narrows the session to what an access token's scopes allow: `Scope::Read` the
    /// `read_only` tools, `Scope::Write` the others. The role still decides first; a scope never
    /// adds a tool. Without this, the role alone decides.
    pub fn with_scopes(self, scopes: impl IntoIterator<Item = Scope>) -> Self {
        let mut granted = Scopes::default();
        for scope in scopes {
            match scope {
                Scope::Read => granted.read = true,
                Scope::Write => granted.write = true,
            }
        }
        self.with(|inner| inner.scopes = Some(granted))
    }

    /// Whether the session's scopes (if it has any) allow a tool that is `read_only` or not.
    pub fn scope_allows(&self, read_only: bool) -> bool {
        self.inner
            .scopes
            .is_none_or(|s| if read_only { s.read } else { s.write })
    }

    /// Whether the session is narrowed by scopes at all.
    pub fn has_scopes(&self) -> bool {
        self.inner.scopes.is_some()
    }

    /// The id of the access token the session was built from (its `jti`), for the audit log.
    /// Never the token itself.
    pub fn with_token_id(self, jti: impl Into<String>) -> Self {
        let jti = jti.into();
        self.with(|inner| inner.token_id = Some(jti))
    }

    /// The access token's id, when the session came from one.
    pub fn token_id(&self) -> Option<&str> {
        self.inner.token_id.as_deref()
    }

    fn with(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        change(&mut inner);
        Session {
            inner: Arc::new(inner),
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
        let key = key.into();
        self.with(|inner| inner.client = Some(key))
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
