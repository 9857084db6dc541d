//! Certificates: a self-signed CA and a leaf for a tls secret's hosts (rcgen). Generated once; the
//! leaf is re-issued under the kept CA key only when its hosts change.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

use crate::spec::model::KeyKind;

/// The files of a tls secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub ca_crt: String,
    pub ca_key: String,
    pub tls_crt: String,
    pub tls_key: String,
    /// The hosts the leaf was issued for, one a line (kept to notice a change).
    pub hosts: String,
}

/// CA validity: long, since re-issuing it means re-distributing trust.
const CA_DAYS: i64 = 3650;

fn key_pair(kind: KeyKind) -> Result<KeyPair, rcgen::Error> {
    match kind {
        KeyKind::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        KeyKind::Rsa2048 => rsa_key_pair(2048),
        KeyKind::Rsa4096 => rsa_key_pair(4096),
    }
}

/// The operating system's random numbers, as `rsa` asks for them.
struct SystemRng;

impl rsa::rand_core::TryRng for SystemRng {
    type Error = getrandom::Error;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        getrandom::u32()
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        getrandom::u64()
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Self::Error> {
        getrandom::fill(dest)
    }
}

impl rsa::rand_core::TryCryptoRng for SystemRng {}

/// ring signs with RSA keys but cannot make them: `rsa` makes the key (constant-time big
/// integers), rcgen loads it from PKCS #8 and ring signs with it.
fn rsa_key_pair(bits: usize) -> Result<KeyPair, rcgen::Error> {
    use rsa::pkcs8::EncodePrivateKey as _;
    let key = rsa::PrivateKey::new(&mut SystemRng, bits)
        .map_err(|_| rcgen::Error::KeyGenerationUnavailable)?;
    let der = key
        .to_pkcs8_der()
        .map_err(|_| rcgen::Error::KeyGenerationUnavailable)?;
    let der = rustls_pki_types::PrivatePkcs8KeyDer::from(der.as_bytes().to_vec());
    KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_RSA_SHA256)
}

fn ca_params(name: &str, now: OffsetDateTime) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("{name} CA (misp-gen)"));
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = now - Duration::minutes(5);
    p.not_after = now + Duration::days(CA_DAYS);
    p
}

/// Make a new CA and leaf.
///
/// # Errors
/// Key generation or signing failed.
pub fn generate(name: &str, hosts: &[String], days: u32, kind: KeyKind) -> Result<Tls, String> {
    let now = OffsetDateTime::now_utc();
    let ca_key = key_pair(kind).map_err(|e| format!("cannot generate a CA key: {e}"))?;
    let params = ca_params(name, now);
    let ca = params
        .self_signed(&ca_key)
        .map_err(|e| format!("cannot sign the CA: {e}"))?;
    let ca_crt = ca.pem();
    let ca_key_pem = ca_key.serialize_pem();
    let issuer = Issuer::new(params, ca_key);
    let (tls_crt, tls_key) = leaf(hosts, days, kind, &issuer, now)?;
    Ok(Tls {
        ca_crt,
        ca_key: ca_key_pem,
        tls_crt,
        tls_key,
        hosts: hosts_text(hosts),
    })
}

/// Issue a new leaf for `hosts` under an existing CA (cert and key in PEM).
///
/// # Errors
/// The kept CA cannot be read, or signing failed.
pub fn reissue(existing: &Tls, hosts: &[String], days: u32, kind: KeyKind) -> Result<Tls, String> {
    let ca_key = KeyPair::from_pem(&existing.ca_key)
        .map_err(|e| format!("cannot read the kept CA key: {e}"))?;
    let issuer = Issuer::from_ca_cert_pem(&existing.ca_crt, ca_key)
        .map_err(|e| format!("cannot read the kept CA certificate: {e}"))?;
    let (tls_crt, tls_key) = leaf(hosts, days, kind, &issuer, OffsetDateTime::now_utc())?;
    Ok(Tls {
        ca_crt: existing.ca_crt.clone(),
        ca_key: existing.ca_key.clone(),
        tls_crt,
        tls_key,
        hosts: hosts_text(hosts),
    })
}

fn leaf(
    hosts: &[String],
    days: u32,
    kind: KeyKind,
    issuer: &Issuer<'_, KeyPair>,
    now: OffsetDateTime,
) -> Result<(String, String), String> {
    let key = key_pair(kind).map_err(|e| format!("cannot generate a key: {e}"))?;
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        hosts.first().cloned().unwrap_or_default(),
    );
    p.distinguished_name = dn;
    for h in hosts {
        let san = match h.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(
                h.clone()
                    .try_into()
                    .map_err(|_| format!("`{h}` is not a valid DNS name for a certificate"))?,
            ),
        };
        p.subject_alt_names.push(san);
    }
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p.use_authority_key_identifier_extension = true;
    p.not_before = now - Duration::minutes(5);
    p.not_after = now + Duration::days(i64::from(days));
    let cert = p
        .signed_by(&key, issuer)
        .map_err(|e| format!("cannot sign the certificate: {e}"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// The hosts as kept beside the leaf.
#[must_use]
pub fn hosts_text(hosts: &[String]) -> String {
    let mut s = hosts.join("\n");
    s.push('\n');
    s
}

/// What is wrong with a kept TLS set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Broken {
    /// The CA itself: it is never replaced by itself (that would re-distribute trust).
    Ca(String),
    /// The leaf (torn by an interrupted render, or edited): re-issued under the kept CA.
    Leaf(String),
}

/// One certificate from PEM, parsed.
fn parse_cert(pem: &str) -> Result<x509_parser::pem::Pem, String> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| format!("not a PEM certificate ({e})"))?;
    pem.parse_x509()
        .map_err(|e| format!("not an X.509 certificate ({e})"))?;
    Ok(pem)
}

/// Whether the private key in `key_pem` is the one of `cert`.
fn key_matches(
    cert: &x509_parser::certificate::X509Certificate<'_>,
    key_pem: &str,
) -> Result<bool, String> {
    let key = KeyPair::from_pem(key_pem).map_err(|e| format!("not a private key ({e})"))?;
    Ok(cert.public_key().subject_public_key.data.as_ref() == key.public_key_raw())
}

/// Check a kept set against itself and the hosts it must cover: the CA key is the CA
/// certificate's; the leaf key is the leaf's; the leaf is signed by the CA and names every host.
///
/// # Errors
/// What is broken, CA or leaf.
pub fn check(tls: &Tls, hosts: &[String]) -> Result<(), Broken> {
    let ca_pem = parse_cert(&tls.ca_crt).map_err(|e| Broken::Ca(format!("ca.crt is {e}")))?;
    let ca = ca_pem
        .parse_x509()
        .map_err(|e| Broken::Ca(format!("ca.crt is not an X.509 certificate ({e})")))?;
    match key_matches(&ca, &tls.ca_key) {
        Ok(true) => {}
        Ok(false) => return Err(Broken::Ca("ca.key is not the key of ca.crt".into())),
        Err(e) => return Err(Broken::Ca(format!("ca.key is {e}"))),
    }
    let leaf_pem = parse_cert(&tls.tls_crt).map_err(|e| Broken::Leaf(format!("tls.crt is {e}")))?;
    let leaf = leaf_pem
        .parse_x509()
        .map_err(|e| Broken::Leaf(format!("tls.crt is not an X.509 certificate ({e})")))?;
    match key_matches(&leaf, &tls.tls_key) {
        Ok(true) => {}
        Ok(false) => return Err(Broken::Leaf("tls.key is not the key of tls.crt".into())),
        Err(e) => return Err(Broken::Leaf(format!("tls.key is {e}"))),
    }
    leaf.verify_signature(Some(ca.public_key()))
        .map_err(|_| Broken::Leaf("tls.crt is not signed by ca.crt".into()))?;
    let named: Vec<String> = leaf
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some((*d).to_owned()),
                    x509_parser::extensions::GeneralName::IPAddress(b) => match b.len() {
                        4 => <[u8; 4]>::try_from(*b)
                            .ok()
                            .map(|a| IpAddr::from(a).to_string()),
                        16 => <[u8; 16]>::try_from(*b)
                            .ok()
                            .map(|a| IpAddr::from(a).to_string()),
                        _ => None,
                    },
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let missing: Vec<&String> = hosts.iter().filter(|h| !named.contains(h)).collect();
    if !missing.is_empty() {
        return Err(Broken::Leaf(format!(
            "tls.crt does not name {}",
            missing
                .iter()
                .map(|h| h.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if tls.hosts != hosts_text(hosts) {
        return Err(Broken::Leaf("hosts changed".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pins RSA sets on the ring backend: rsa-2048 and rsa-4096 keys are made (by `rsa`, since ring
    // cannot), sign a CA and a leaf that pass the kept-set checks, and are the size asked for.
    #[test]
    fn rsa_sets_are_made_and_check() {
        let hosts = vec!["a.example".to_owned()];
        for (kind, bits) in [(KeyKind::Rsa2048, 2048), (KeyKind::Rsa4096, 4096)] {
            let set = generate("x", &hosts, 30, kind).unwrap();
            assert_eq!(check(&set, &hosts), Ok(()));
            let der = parse_cert(&set.tls_crt).unwrap();
            let cert = der.parse_x509().unwrap();
            let key = cert.public_key().parsed().unwrap();
            assert!(
                matches!(key, x509_parser::public_key::PublicKey::RSA(_)),
                "{kind:?} gave a non-RSA key"
            );
            assert_eq!(key.key_size(), bits, "{kind:?}");
        }
    }

    // Pins the checks of a kept set: a fresh one passes; a leaf torn from another set (key or
    // certificate), a leaf missing a host, and a CA key that is not the CA's are each named.
    #[test]
    fn torn_sets_are_named() {
        let hosts = vec!["a.example".to_owned(), "10.0.0.1".to_owned()];
        let one = generate("x", &hosts, 30, KeyKind::EcdsaP256).unwrap();
        assert_eq!(check(&one, &hosts), Ok(()));
        let other = generate("x", &hosts, 30, KeyKind::EcdsaP256).unwrap();
        let torn_key = Tls {
            tls_key: other.tls_key.clone(),
            ..one.clone()
        };
        assert!(
            matches!(check(&torn_key, &hosts), Err(Broken::Leaf(m)) if m.contains("tls.key is not the key"))
        );
        let foreign = Tls {
            tls_crt: other.tls_crt.clone(),
            tls_key: other.tls_key.clone(),
            ..one.clone()
        };
        assert!(
            matches!(check(&foreign, &hosts), Err(Broken::Leaf(m)) if m.contains("not signed by ca.crt"))
        );
        let more = vec![
            "a.example".to_owned(),
            "10.0.0.1".to_owned(),
            "b.example".to_owned(),
        ];
        let moved = Tls {
            hosts: hosts_text(&more),
            ..one.clone()
        };
        assert!(
            matches!(check(&moved, &more), Err(Broken::Leaf(m)) if m.contains("does not name b.example"))
        );
        let bad_ca = Tls {
            ca_key: other.ca_key.clone(),
            ..one.clone()
        };
        assert!(
            matches!(check(&bad_ca, &hosts), Err(Broken::Ca(m)) if m.contains("ca.key is not the key"))
        );
        let reissued = reissue(&one, &more, 30, KeyKind::EcdsaP256).unwrap();
        assert_eq!(check(&reissued, &more), Ok(()));
        assert_eq!(reissued.ca_key, one.ca_key);
    }
}
