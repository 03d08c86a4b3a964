// Known-answer vectors for the cookie scheme v1, made with libsodium.js
// (npm's libsodium-wrappers), independently of the project's C code:
//
//   cookie = base64url-nopad(0x01 || nonce(24) || XChaCha20-Poly1305-IETF(
//                plaintext, ad = cookie name, nonce, key))
//   key    = BLAKE2b-256(key = raw EncryptionKey, "ngx_cluster cookie v1")
//   fingerprint = hex(BLAKE2b-128(key = raw EncryptionKey,
//                                 "ngx_cluster fingerprint v1"))[0..8]
//
// Run: npm install libsodium-wrappers && node make_cookie_vectors.js
// > cookie_vectors.txt; the output is kept in the repository as data.

const _sodium = require('libsodium-wrappers');

(async () => {
    await _sodium.ready;
    const s = _sodium;

    const cases = [
        ['00112233445566778899aabbccddeeff', '.ProGetAuth',
         '{"sub":"admin","iat":1795600000,"exp":1795686400,"node":"web1"}'],
        ['0F1E2D3C4B5A69788796A5B4C3D2E1F0', 'INEDOAUTH',
         '{"sub":"jane.doe@example.com","iat":1,"exp":2,"node":"web2"}'],
        ['ffffffffffffffffffffffffffffffff', 'a',
         '{"sub":"","iat":0,"exp":0,"node":""}'],
        ['0123456789abcdef0123456789abcdef', '.BuildMasterAuth', ''],
    ];

    cases.forEach(([hex, name, text], i) => {
        const raw = s.from_hex(hex.toLowerCase());
        const key = s.crypto_generichash(32, s.from_string('ngx_cluster cookie v1'),
                                         raw);
        const fp = s.to_hex(s.crypto_generichash(16,
                      s.from_string('ngx_cluster fingerprint v1'), raw)).slice(0, 8);
        const nonce = new Uint8Array(24).map((_, j) => (i * 31 + j * 7) & 0xff);
        const ct = s.crypto_aead_xchacha20poly1305_ietf_encrypt(
                       s.from_string(text), s.from_string(name), null, nonce, key);
        const blob = new Uint8Array(1 + 24 + ct.length);
        blob[0] = 1;
        blob.set(nonce, 1);
        blob.set(ct, 25);
        const cookie = s.to_base64(blob, s.base64_variants.URLSAFE_NO_PADDING);

        // key, name, plaintext, nonce, fingerprint, cookie: one a line
        console.log(hex);
        console.log(name);
        console.log(text);
        console.log(s.to_hex(nonce));
        console.log(fp);
        console.log(cookie);
    });
})();
