//! Sealing and opening datagrams.
//!
//! Every datagram is `magic || mode || nonce(24) || XChaCha20-Poly1305(kind || payload) || tag(16)`
//! with `magic || mode` as associated data. With a cluster key the mode is `1` and the key
//! is that key. Without one the mode is `0` and the key is all zeros: not secret, but the
//! same framing and corruption check, and a host with a key can tell "no key" from "wrong
//! key" when it drops such a packet.

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{Key, Tag, XChaCha20Poly1305, XNonce};
use rand::rngs::StdRng;
use rand::Rng;

const MAGIC: u8 = b'K';
const MODE_PLAIN: u8 = 0;
const MODE_KEYED: u8 = 1;
const HEADER_LEN: usize = 2;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Bytes a sealed datagram adds to its payload (header, nonce, kind byte, tag).
pub(crate) const OVERHEAD: usize = HEADER_LEN + NONCE_LEN + 1 + TAG_LEN;

/// Why a datagram was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenError {
    /// Not one of ours: too short or wrong magic.
    Malformed,
    /// Sealed without a key while we have one, or the other way round.
    KeyPresenceMismatch { packet_has_key: bool },
    /// Authentication failed: another key, or corrupted.
    BadTag,
}

pub(crate) struct Sealer {
    cipher: XChaCha20Poly1305,
    mode: u8,
    // A CSPRNG seeded from the OS: 192-bit random nonces never repeat in practice.
    rng: StdRng,
}

impl Sealer {
    pub(crate) fn new(key: Option<[u8; 32]>) -> Self {
        let (bytes, mode) = match key {
            Some(key) => (key, MODE_KEYED),
            None => ([0u8; 32], MODE_PLAIN),
        };
        Self {
            cipher: XChaCha20Poly1305::new(&Key::from(bytes)),
            mode,
            rng: rand::make_rng(),
        }
    }

    /// Appends the sealed datagram for `kind` and `payload` to `out` (cleared first).
    pub(crate) fn seal(&mut self, kind: u8, payload: &[u8], out: &mut Vec<u8>) {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill_bytes(&mut nonce);
        out.clear();
        out.reserve(OVERHEAD + payload.len());
        out.extend_from_slice(&[MAGIC, self.mode]);
        out.extend_from_slice(&nonce);
        let body = out.len();
        out.push(kind);
        out.extend_from_slice(payload);
        let (header, rest) = out.split_at_mut(HEADER_LEN);
        let tag = self
            .cipher
            .encrypt_inout_detached(
                &XNonce::from(nonce),
                header,
                (&mut rest[NONCE_LEN..]).into(),
            )
            .expect("datagrams are far below the AEAD length limit");
        debug_assert_eq!(body, HEADER_LEN + NONCE_LEN);
        out.extend_from_slice(&tag);
    }

    /// Authenticates and decrypts `datagram` in place; returns its kind and payload.
    pub(crate) fn open<'a>(&self, datagram: &'a mut [u8]) -> Result<(u8, &'a [u8]), OpenError> {
        if datagram.len() < OVERHEAD || datagram[0] != MAGIC {
            return Err(OpenError::Malformed);
        }
        let mode = datagram[1];
        if mode != MODE_PLAIN && mode != MODE_KEYED {
            return Err(OpenError::Malformed);
        }
        if mode != self.mode {
            return Err(OpenError::KeyPresenceMismatch {
                packet_has_key: mode == MODE_KEYED,
            });
        }
        let (header, rest) = datagram.split_at_mut(HEADER_LEN);
        let (nonce, rest) = rest.split_at_mut(NONCE_LEN);
        let (body, tag) = rest.split_at_mut(rest.len() - TAG_LEN);
        let nonce = XNonce::try_from(&*nonce).map_err(|_| OpenError::Malformed)?;
        let tag = Tag::try_from(&*tag).map_err(|_| OpenError::Malformed)?;
        self.cipher
            .decrypt_inout_detached(&nonce, header, (&mut *body).into(), &tag)
            .map_err(|_| OpenError::BadTag)?;
        let body: &'a [u8] = body;
        Ok((body[0], &body[1..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(sealer: &mut Sealer, opener: &Sealer) -> Result<(u8, Vec<u8>), OpenError> {
        let mut out = Vec::new();
        sealer.seal(7, b"hello", &mut out);
        assert_eq!(out.len(), OVERHEAD + 5);
        opener.open(&mut out).map(|(k, p)| (k, p.to_vec()))
    }

    #[test]
    fn same_key_opens() {
        let mut a = Sealer::new(Some([1; 32]));
        let b = Sealer::new(Some([1; 32]));
        assert_eq!(roundtrip(&mut a, &b), Ok((7, b"hello".to_vec())));
        let mut plain = Sealer::new(None);
        let plain2 = Sealer::new(None);
        assert_eq!(roundtrip(&mut plain, &plain2), Ok((7, b"hello".to_vec())));
    }

    #[test]
    fn wrong_or_missing_key_is_refused() {
        let mut a = Sealer::new(Some([1; 32]));
        let b = Sealer::new(Some([2; 32]));
        assert_eq!(roundtrip(&mut a, &b), Err(OpenError::BadTag));
        let plain = Sealer::new(None);
        assert_eq!(
            roundtrip(&mut a, &plain),
            Err(OpenError::KeyPresenceMismatch {
                packet_has_key: true
            })
        );
    }

    #[test]
    fn tampering_and_garbage_are_refused() {
        let mut a = Sealer::new(Some([1; 32]));
        let mut out = Vec::new();
        a.seal(1, b"payload", &mut out);
        let last = out.len() - 1;
        out[last] ^= 1;
        assert_eq!(a.open(&mut out).unwrap_err(), OpenError::BadTag);
        assert_eq!(a.open(&mut [0u8; 10]).unwrap_err(), OpenError::Malformed);
        assert_eq!(a.open(&mut [b'X'; 100]).unwrap_err(), OpenError::Malformed);
    }

    #[test]
    fn nonces_differ() {
        let mut a = Sealer::new(Some([1; 32]));
        let (mut x, mut y) = (Vec::new(), Vec::new());
        a.seal(1, b"same", &mut x);
        a.seal(1, b"same", &mut y);
        assert_ne!(x, y);
    }
}
