//! The only file in the core that names a target: `Send` where threads exist, nothing on wasm32.
//!
//! Workers run one isolate on one thread and their JS-backed values are not `Send`; tokio moves
//! futures across threads and needs `Send`. Port traits take `MaybeSend`/`MaybeSync` as
//! supertraits, and boxed futures and streams use the aliases below, so one core serves both.

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    /// `Send` on native targets.
    pub trait MaybeSend: Send {}
    impl<T: Send + ?Sized> MaybeSend for T {}
    /// `Sync` on native targets.
    pub trait MaybeSync: Sync {}
    impl<T: Sync + ?Sized> MaybeSync for T {}
    pub use futures_util::future::BoxFuture;
    pub use futures_util::stream::BoxStream;
}

#[cfg(target_arch = "wasm32")]
mod imp {
    /// Nothing on wasm32: a Worker isolate is single-threaded.
    pub trait MaybeSend {}
    impl<T: ?Sized> MaybeSend for T {}
    /// Nothing on wasm32: a Worker isolate is single-threaded.
    pub trait MaybeSync {}
    impl<T: ?Sized> MaybeSync for T {}
    pub use futures_util::future::LocalBoxFuture as BoxFuture;
    pub use futures_util::stream::LocalBoxStream as BoxStream;
}

pub use imp::*;

/// Boxes a future with the target's `Send`-ness.
#[cfg(not(target_arch = "wasm32"))]
pub fn boxed<'a, T>(fut: impl std::future::Future<Output = T> + Send + 'a) -> BoxFuture<'a, T> {
    Box::pin(fut)
}

/// Boxes a future with the target's `Send`-ness.
#[cfg(target_arch = "wasm32")]
pub fn boxed<'a, T>(fut: impl std::future::Future<Output = T> + 'a) -> BoxFuture<'a, T> {
    Box::pin(fut)
}

/// Boxes a stream with the target's `Send`-ness.
#[cfg(not(target_arch = "wasm32"))]
pub fn boxed_stream<'a, T>(s: impl futures_core::Stream<Item = T> + Send + 'a) -> BoxStream<'a, T> {
    Box::pin(s)
}

/// Boxes a stream with the target's `Send`-ness.
#[cfg(target_arch = "wasm32")]
pub fn boxed_stream<'a, T>(s: impl futures_core::Stream<Item = T> + 'a) -> BoxStream<'a, T> {
    Box::pin(s)
}

/// A boxed one-shot callback with the target's `Send`-ness.
#[cfg(not(target_arch = "wasm32"))]
pub type BoxFnOnce<A> = Box<dyn FnOnce(A) + Send + 'static>;

/// A boxed one-shot callback with the target's `Send`-ness.
#[cfg(target_arch = "wasm32")]
pub type BoxFnOnce<A> = Box<dyn FnOnce(A) + 'static>;
