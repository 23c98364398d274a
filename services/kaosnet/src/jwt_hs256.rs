//! The one JWT algorithm KaosNet signs with, HS256, as jsonwebtoken's crypto provider.
//!
//! jsonwebtoken's built-in providers bring RSA and elliptic-curve crates (or a C
//! library) that session tokens never use; this provider is HMAC-SHA256 and nothing
//! else, so those crates stay out of the build and any other algorithm is refused.

use std::sync::Once;

use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

struct Hs256(HmacSha256);

impl Hs256 {
    fn new(algorithm: &Algorithm, secret: &[u8]) -> Result<Self, Error> {
        if *algorithm != Algorithm::HS256 {
            return Err(ErrorKind::InvalidAlgorithm.into());
        }
        HmacSha256::new_from_slice(secret).map(Self).map_err(|_| ErrorKind::InvalidKeyFormat.into())
    }
}

impl Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let mut mac = self.0.clone();
        mac.update(message);
        Ok(mac.finalize().into_bytes().to_vec())
    }
}

impl Verifier<Vec<u8>> for Hs256 {
    fn verify(&self, message: &[u8], tag: &Vec<u8>) -> Result<(), signature::Error> {
        let mut mac = self.0.clone();
        mac.update(message);
        // Constant-time comparison: a timing oracle must not reveal the tag byte by byte.
        mac.verify_slice(tag).map_err(|_| signature::Error::new())
    }
}

impl JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: |algorithm, key: &EncodingKey| Ok(Box::new(Hs256::new(algorithm, key.try_get_hmac_secret()?)?)),
    verifier_factory: |algorithm, key: &DecodingKey| Ok(Box::new(Hs256::new(algorithm, key.try_get_hmac_secret()?)?)),
    jwk_utils: JwkUtils::new_unimplemented(),
};

/// Makes HS256 the process's JWT provider; call before signing or verifying.
///
/// An embedding application that installed its own provider first keeps it (it must
/// then offer HS256 itself).
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = PROVIDER.install_default();
    });
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{decode, encode, Header, Validation};
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Claims {
        sub: String,
        exp: u64,
    }

    #[test]
    fn signs_and_verifies_hs256_and_refuses_other_algorithms_and_keys() {
        install();
        let claims = Claims { sub: "u".into(), exp: 4_000_000_000 };
        let key = EncodingKey::from_secret(b"secret");
        let token = encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap();
        let validation = Validation::new(Algorithm::HS256);
        let read = decode::<Claims>(&token, &DecodingKey::from_secret(b"secret"), &validation);
        assert_eq!(read.unwrap().claims, claims);
        // RFC 7515 A.1's key and signing input give its published tag.
        let tag = Hs256::new(&Algorithm::HS256, &rfc7515_key()).unwrap().try_sign(RFC7515_INPUT);
        assert_eq!(
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, tag.unwrap()),
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        );

        let wrong_key = decode::<Claims>(&token, &DecodingKey::from_secret(b"other"), &validation);
        assert!(wrong_key.is_err());
        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(decode::<Claims>(&tampered, &DecodingKey::from_secret(b"secret"), &validation).is_err());
        let hs512 = encode(&Header::new(Algorithm::HS512), &claims, &key);
        assert!(matches!(hs512.unwrap_err().kind(), ErrorKind::InvalidAlgorithm));
    }

    const RFC7515_INPUT: &[u8] = b"eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";

    fn rfc7515_key() -> Vec<u8> {
        let jwk = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, jwk).unwrap()
    }
}
