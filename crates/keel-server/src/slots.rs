//! Per-login connection limits (`connection_limit` of a login in `[serve]`), beside the
//! server-wide `max_connections`: what PostgreSQL's role `CONNECTION LIMIT` gives. A login
//! over its limit is refused only once it has proved who it is, as PostgreSQL does, so that
//! the refusal tells a stranger nothing about which logins exist.

use std::collections::HashMap;
use std::fmt::Debug;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Sink;
use pgwire::api::SessionExtensions;
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireConnectionState};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::ProtocolVersion;
use pgwire::messages::response::TransactionStatus;
use pgwire::messages::startup::{Authentication, SecretKey};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Login;

/// A semaphore for each login that has a `connection_limit`.
#[derive(Debug, Default)]
pub(crate) struct LoginSlots {
    slots: HashMap<String, (usize, Arc<Semaphore>)>,
}

/// A login has all its places taken.
#[derive(Debug)]
pub(crate) struct LoginFull {
    /// The login.
    pub(crate) login: String,
    /// Its `connection_limit`.
    pub(crate) limit: usize,
}

impl LoginFull {
    /// The message a client reads.
    pub(crate) fn message(&self) -> String {
        format!(
            "too many connections for login `{}` (its connection_limit is {})",
            self.login, self.limit
        )
    }
}

impl LoginSlots {
    pub(crate) fn new(logins: &[Login]) -> LoginSlots {
        let slots = logins
            .iter()
            .filter_map(|login| {
                let limit = login.connection_limit?;
                Some((login.name.clone(), (limit, Arc::new(Semaphore::new(limit)))))
            })
            .collect();
        LoginSlots { slots }
    }

    /// A place for `login`: `None` when the login has no limit of its own.
    pub(crate) fn acquire(&self, login: &str) -> Result<Option<OwnedSemaphorePermit>, LoginFull> {
        let Some((limit, slots)) = self.slots.get(login) else {
            return Ok(None);
        };
        slots
            .clone()
            .try_acquire_owned()
            .map(Some)
            .map_err(|_| LoginFull {
                login: login.to_string(),
                limit: *limit,
            })
    }
}

/// A pgwire client seen through `admit`, which is asked, when authentication succeeded and
/// before `AuthenticationOk` goes out, whether the authenticated user may have one more
/// connection. When it may not, nothing more reaches the client (no `AuthenticationOk`, no
/// parameters, no `ReadyForQuery`) and [`Gate::refused`] says why: the startup handler
/// then ends the connection with that message.
pub(crate) struct Gate<'a, C, F> {
    client: &'a mut C,
    admit: F,
    refused: Option<String>,
}

impl<'a, C, F> Gate<'a, C, F> {
    pub(crate) fn new(client: &'a mut C, admit: F) -> Self {
        Gate {
            client,
            admit,
            refused: None,
        }
    }

    /// Why the authenticated user was not admitted, if it was not.
    pub(crate) fn refused(self) -> Option<String> {
        self.refused
    }
}

impl<C, F> Sink<PgWireBackendMessage> for Gate<'_, C, F>
where
    C: ClientInfo + Sink<PgWireBackendMessage> + Unpin,
    F: Fn(&str) -> Result<(), String> + Unpin,
{
    type Error = C::Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut *self.client).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: PgWireBackendMessage) -> Result<(), Self::Error> {
        if self.refused.is_none()
            && matches!(
                item,
                PgWireBackendMessage::Authentication(Authentication::Ok)
            )
        {
            let user = self
                .client
                .metadata()
                .get(pgwire::api::METADATA_USER)
                .cloned()
                .unwrap_or_default();
            if let Err(why) = (self.admit)(&user) {
                self.refused = Some(why);
            }
        }
        if self.refused.is_some() {
            return Ok(());
        }
        Pin::new(&mut *self.client).start_send(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut *self.client).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut *self.client).poll_close(cx)
    }
}

impl<C: ClientInfo, F> ClientInfo for Gate<'_, C, F> {
    fn socket_addr(&self) -> SocketAddr {
        self.client.socket_addr()
    }

    fn is_secure(&self) -> bool {
        self.client.is_secure()
    }

    fn protocol_version(&self) -> ProtocolVersion {
        self.client.protocol_version()
    }

    fn set_protocol_version(&mut self, version: ProtocolVersion) {
        self.client.set_protocol_version(version);
    }

    fn pid_and_secret_key(&self) -> (i32, SecretKey) {
        self.client.pid_and_secret_key()
    }

    fn set_pid_and_secret_key(&mut self, pid: i32, secret_key: SecretKey) {
        self.client.set_pid_and_secret_key(pid, secret_key);
    }

    fn state(&self) -> PgWireConnectionState {
        self.client.state()
    }

    fn set_state(&mut self, new_state: PgWireConnectionState) {
        self.client.set_state(new_state);
    }

    fn transaction_status(&self) -> TransactionStatus {
        self.client.transaction_status()
    }

    fn set_transaction_status(&mut self, new_status: TransactionStatus) {
        self.client.set_transaction_status(new_status);
    }

    fn metadata(&self) -> &HashMap<String, String> {
        self.client.metadata()
    }

    fn metadata_mut(&mut self) -> &mut HashMap<String, String> {
        self.client.metadata_mut()
    }

    fn session_extensions(&self) -> &SessionExtensions {
        self.client.session_extensions()
    }

    fn sni_server_name(&self) -> Option<&str> {
        self.client.sni_server_name()
    }

    fn client_certificates<'a>(&self) -> Option<&[rustls_pki_types::CertificateDer<'a>]> {
        self.client.client_certificates()
    }
}

impl<C: ClientPortalStore, F> ClientPortalStore for Gate<'_, C, F> {
    type PortalStore = C::PortalStore;

    fn portal_store(&self) -> &Self::PortalStore {
        self.client.portal_store()
    }
}

impl<C, F> Debug for Gate<'_, C, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate").finish_non_exhaustive()
    }
}
