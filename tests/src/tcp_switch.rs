//! A TCP forwarder that can be switched off: a database or upstream "going away" on demand.
//! Off, it cuts every open connection and closes new ones at once; on, it forwards again.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running forwarder on 127.0.0.1.
pub struct TcpSwitch {
    pub addr: SocketAddr,
    on: Arc<watch::Sender<bool>>,
}

impl TcpSwitch {
    /// Forwards to `target`, starting `on` or off.
    pub async fn start(target: SocketAddr, on: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, _) = watch::channel(on);
        let tx = Arc::new(tx);
        let state = tx.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut switch = state.subscribe();
                if !*switch.borrow() {
                    continue; // dropped: closed at once
                }
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else { return };
                    let (mut client, mut server) = (client, server);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = switch.wait_for(|on| !*on) => {}
                    }
                });
            }
        });
        Self { addr, on: tx }
    }

    pub fn set(&self, on: bool) {
        self.on.send_replace(on);
    }
}
