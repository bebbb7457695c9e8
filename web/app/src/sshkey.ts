// sshkey.ts: the public-key stage of the ssh provider's login, answered in the browser. The user picks
// or pastes an OpenSSH private key ("-----BEGIN OPENSSH PRIVATE KEY-----", what ssh-keygen writes),
// maybe encrypted with a passphrase; the key never leaves the page: deskhub gets the public key
// (login/public-key) and then a signature of the bytes the SSH server asks to sign
// (login/public-key/signed), made here with WebCrypto (Ed25519, ECDSA P-256/384/521, RSA PKCS#1 v1.5
// with SHA-512, SHA-256 or SHA-1). An encrypted key is opened with bcrypt_pbkdf (the npm package
// bcrypt-pbkdf, OpenBSD's function ported to JavaScript) and AES (WebCrypto: aes*-ctr, aes*-cbc,
// aes256-gcm@openssh.com).
//
// It is built as its own file, dist/sshkey.js, which the login page imports only when a key is
// picked, so the app's first load does not carry it.
import { pbkdf } from "bcrypt-pbkdf";

export class KeyError extends Error {}

// Reader reads the SSH wire format (RFC 4251: uint32, string, mpint).
class Reader {
  private off = 0;
  constructor(private b: Uint8Array) {}
  u32(): number {
    if (this.off + 4 > this.b.length) throw new KeyError("The key file is cut short.");
    const v = new DataView(this.b.buffer, this.b.byteOffset + this.off, 4).getUint32(0);
    this.off += 4;
    return v;
  }
  bytes(n: number): Uint8Array {
    if (n < 0 || this.off + n > this.b.length) throw new KeyError("The key file is cut short.");
    const v = this.b.subarray(this.off, this.off + n);
    this.off += n;
    return v;
  }
  string(): Uint8Array { return this.bytes(this.u32()); }
  text(): string { return new TextDecoder().decode(this.string()); }
  rest(): Uint8Array { return this.b.subarray(this.off); }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) { out.set(p, off); off += p.length; }
  return out;
}
// own copies bytes into a buffer of their own (what WebCrypto's BufferSource type wants).
const own = (b: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(b);
function u32(n: number): Uint8Array { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, n); return b; }
function str(b: Uint8Array | string): Uint8Array {
  const bytes = typeof b === "string" ? new TextEncoder().encode(b) : b;
  return concat(u32(bytes.length), bytes);
}
// mpint encodes an unsigned big-endian integer as an SSH mpint.
function mpint(b: Uint8Array): Uint8Array {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  let v = b.subarray(i);
  if (v.length && v[0] & 0x80) v = concat(new Uint8Array([0]), v);
  return str(v);
}
// unsigned drops an mpint's sign byte and leading zeros; pad makes it n bytes long.
function unsigned(b: Uint8Array, n = 0): Uint8Array {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const v = b.subarray(i);
  if (n && v.length > n) throw new KeyError("A number of the key is too long for its curve.");
  return n && v.length < n ? concat(new Uint8Array(n - v.length), v) : v;
}
function b64url(b: Uint8Array): string {
  let s = "";
  for (const c of b) s += String.fromCharCode(c);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
export function b64(b: Uint8Array): string {
  let s = "";
  for (const c of b) s += String.fromCharCode(c);
  return btoa(s);
}
export function unb64(s: string): Uint8Array {
  const bin = atob(s.replace(/\s+/g, ""));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
const big = (b: Uint8Array) => (b.length ? BigInt("0x" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("")) : 0n);
function bytesOf(n: bigint): Uint8Array {
  let h = n.toString(16);
  if (h.length % 2) h = "0" + h;
  return Uint8Array.from(h.match(/../g) || [], (x) => parseInt(x, 16));
}

const CURVES: Record<string, { crv: string; hash: string; size: number }> = {
  nistp256: { crv: "P-256", hash: "SHA-256", size: 32 },
  nistp384: { crv: "P-384", hash: "SHA-384", size: 48 },
  nistp521: { crv: "P-521", hash: "SHA-512", size: 66 },
};

const CIPHERS: Record<string, { mode: "AES-CTR" | "AES-CBC" | "AES-GCM"; key: number; iv: number; tag: number }> = {
  "aes128-ctr": { mode: "AES-CTR", key: 16, iv: 16, tag: 0 },
  "aes192-ctr": { mode: "AES-CTR", key: 24, iv: 16, tag: 0 },
  "aes256-ctr": { mode: "AES-CTR", key: 32, iv: 16, tag: 0 },
  "aes128-cbc": { mode: "AES-CBC", key: 16, iv: 16, tag: 0 },
  "aes192-cbc": { mode: "AES-CBC", key: 24, iv: 16, tag: 0 },
  "aes256-cbc": { mode: "AES-CBC", key: 32, iv: 16, tag: 0 },
  "aes128-gcm@openssh.com": { mode: "AES-GCM", key: 16, iv: 12, tag: 16 },
  "aes256-gcm@openssh.com": { mode: "AES-GCM", key: 32, iv: 12, tag: 16 },
};

// PrivateKey is a parsed key file. The private half stays in this object (encrypted until unlock).
export class PrivateKey {
  /** the key type: ssh-ed25519, ecdsa-sha2-nistp256 …, ssh-rsa */
  readonly type: string;
  /** the public key in the SSH wire format (what login/public-key takes, base64) */
  readonly publicKey: Uint8Array;
  readonly encrypted: boolean;
  private cipher: string;
  private kdf: Uint8Array;
  private sealed: Uint8Array;
  private jwk: JsonWebKey | null = null;
  comment = "";

  private constructor(type: string, pub: Uint8Array, cipher: string, kdf: Uint8Array, sealed: Uint8Array) {
    this.type = type;
    this.publicKey = pub;
    this.cipher = cipher;
    this.kdf = kdf;
    this.sealed = sealed;
    this.encrypted = cipher !== "none";
  }

  // parse reads the text of an OpenSSH private key file.
  static parse(text: string): PrivateKey {
    const m = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(text);
    if (!m) {
      if (/BEGIN [A-Z ]*PRIVATE KEY/.test(text)) {
        throw new KeyError("This key is in the old PEM format; convert it to OpenSSH's with: ssh-keygen -p -f <key file>");
      }
      if (/^(ssh-|ecdsa-)/.test(text.trim())) throw new KeyError("This is a public key; pick the private key (the file without .pub).");
      throw new KeyError("This is not an OpenSSH private key (-----BEGIN OPENSSH PRIVATE KEY-----).");
    }
    let raw: Uint8Array;
    try { raw = unb64(m[1]); } catch { throw new KeyError("The key's base64 is damaged."); }
    const magic = new TextEncoder().encode("openssh-key-v1\0");
    if (raw.length < magic.length || magic.some((c, i) => raw[i] !== c)) throw new KeyError("The key does not start with openssh-key-v1.");
    const r = new Reader(raw.subarray(magic.length));
    const cipher = r.text(), kdfName = r.text(), kdf = r.string();
    if (r.u32() !== 1) throw new KeyError("The key file holds several keys; pick a file with one.");
    const pub = r.string();
    const sealed = r.rest();
    if (cipher !== "none" && !CIPHERS[cipher]) throw new KeyError(`The key is encrypted with ${cipher}, which this page cannot open.`);
    if (cipher !== "none" && kdfName !== "bcrypt") throw new KeyError(`The key's passphrase uses ${kdfName}, which this page cannot open.`);
    const type = new Reader(pub).text();
    if (type !== "ssh-ed25519" && type !== "ssh-rsa" && !type.startsWith("ecdsa-sha2-")) {
      throw new KeyError(`A ${type} key cannot be used here (ed25519, ECDSA and RSA can).`);
    }
    const k = new PrivateKey(type, pub, cipher, kdf, sealed);
    if (!k.encrypted) k.open(sealed);
    return k;
  }

  get unlocked(): boolean { return this.jwk !== null; }

  // unlock decrypts an encrypted key with its passphrase.
  async unlock(passphrase: string): Promise<void> {
    if (this.jwk) return;
    const c = CIPHERS[this.cipher];
    const kr = new Reader(this.kdf);
    const salt = kr.string(), rounds = kr.u32();
    const pass = new TextEncoder().encode(passphrase);
    const out = new Uint8Array(c.key + c.iv);
    if (!passphrase || pbkdf(pass, pass.length, salt, salt.length, out, out.length, rounds) !== 0) {
      throw new KeyError("The key's passphrase is needed.");
    }
    const r = new Reader(this.sealed);
    const body = r.string();
    const data = c.tag ? concat(body, r.bytes(c.tag)) : body;
    const key = await crypto.subtle.importKey("raw", own(out.subarray(0, c.key)), c.mode, false, ["decrypt"]);
    const iv = own(out.subarray(c.key));
    let plain: Uint8Array;
    try {
      const params = c.mode === "AES-CTR" ? { name: c.mode, counter: iv, length: 128 } : { name: c.mode, iv };
      if (c.mode === "AES-CBC") {
        // WebCrypto's AES-CBC wants PKCS#7 padding, which OpenSSH does not add: decrypt the blocks
        // with one extra encrypted block of padding appended (16 bytes of 16, chained to the last).
        const ek = await crypto.subtle.importKey("raw", own(out.subarray(0, c.key)), "AES-CBC", false, ["encrypt"]);
        const last = data.subarray(data.length - 16);
        const pad = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-CBC", iv: own(last) }, ek, new Uint8Array(0)));
        plain = new Uint8Array(await crypto.subtle.decrypt(params, key, own(concat(data, pad.subarray(0, 16)))));
      } else {
        plain = new Uint8Array(await crypto.subtle.decrypt(params, key, own(data)));
      }
    } catch {
      throw new KeyError("Wrong passphrase for this key.");
    }
    this.open(plain, true);
  }

  // open reads the private section (checkints, then the key).
  private open(section: Uint8Array, decrypted = false) {
    const r = new Reader(decrypted ? section : new Reader(section).string());
    if (r.u32() !== r.u32()) throw new KeyError(decrypted ? "Wrong passphrase for this key." : "The key file is damaged.");
    const type = r.text();
    if (type !== this.type) throw new KeyError("The key file is damaged (its two halves differ).");
    if (type === "ssh-ed25519") {
      const pub = r.string(), priv = r.string();
      if (pub.length !== 32 || priv.length !== 64) throw new KeyError("The ed25519 key has the wrong length.");
      this.jwk = { kty: "OKP", crv: "Ed25519", x: b64url(pub), d: b64url(priv.subarray(0, 32)) };
    } else if (type.startsWith("ecdsa-sha2-")) {
      const curve = CURVES[r.text()];
      if (!curve) throw new KeyError(`The curve of ${type} is not supported.`);
      const q = r.string(), d = r.string();
      if (q[0] !== 4 || q.length !== 1 + 2 * curve.size) throw new KeyError("The ECDSA public point is not uncompressed.");
      this.jwk = { kty: "EC", crv: curve.crv, x: b64url(q.subarray(1, 1 + curve.size)), y: b64url(q.subarray(1 + curve.size)), d: b64url(unsigned(d, curve.size)) };
    } else {
      const n = unsigned(r.string()), e = unsigned(r.string()), d = unsigned(r.string());
      const iqmp = unsigned(r.string()), p = unsigned(r.string()), q = unsigned(r.string());
      const D = big(d);
      this.jwk = {
        kty: "RSA", n: b64url(n), e: b64url(e), d: b64url(d), p: b64url(p), q: b64url(q), qi: b64url(iqmp),
        dp: b64url(bytesOf(D % (big(p) - 1n))), dq: b64url(bytesOf(D % (big(q) - 1n))),
      };
    }
    this.comment = r.text();
    this.sealed = new Uint8Array(0);
  }

  // sign signs data (the bytes of a public-key stage) with algorithm (the stage's; ssh-ed25519,
  // ecdsa-sha2-*, rsa-sha2-512, rsa-sha2-256 or ssh-rsa) and answers the SSH signature's wire form.
  async sign(data: Uint8Array, algorithm: string): Promise<Uint8Array> {
    const jwk = this.jwk;
    if (!jwk) throw new KeyError("The key is locked: type its passphrase.");
    if (this.type === "ssh-ed25519") {
      const key = await crypto.subtle.importKey("jwk", jwk, { name: "Ed25519" }, false, ["sign"]);
      const sig = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key, own(data)));
      return concat(str("ssh-ed25519"), str(sig));
    }
    if (this.type.startsWith("ecdsa-sha2-")) {
      const curve = CURVES[this.type.slice("ecdsa-sha2-".length)];
      const key = await crypto.subtle.importKey("jwk", jwk, { name: "ECDSA", namedCurve: curve.crv }, false, ["sign"]);
      const rs = new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: curve.hash }, key, own(data)));
      const half = rs.length / 2;
      return concat(str(this.type), str(concat(mpint(rs.subarray(0, half)), mpint(rs.subarray(half)))));
    }
    const hash = ({ "rsa-sha2-512": "SHA-512", "rsa-sha2-256": "SHA-256", "ssh-rsa": "SHA-1" } as Record<string, string>)[algorithm];
    if (!hash) throw new KeyError(`The server asks for a ${algorithm} signature, which an RSA key cannot make.`);
    const key = await crypto.subtle.importKey("jwk", { ...jwk, alg: undefined }, { name: "RSASSA-PKCS1-v1_5", hash }, false, ["sign"]);
    const sig = new Uint8Array(await crypto.subtle.sign({ name: "RSASSA-PKCS1-v1_5" }, key, own(data)));
    return concat(str(algorithm), str(sig));
  }

  // forget drops the private half.
  forget() { this.jwk = null; this.sealed = new Uint8Array(0); }
}
