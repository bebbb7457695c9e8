// Types of the npm package bcrypt-pbkdf (OpenBSD's bcrypt_pbkdf in JavaScript), used by sshkey.ts.
declare module "bcrypt-pbkdf" {
  // pbkdf writes keylen bytes derived from pass and salt with rounds rounds into key; 0 on success, -1 on bad arguments.
  export function pbkdf(pass: Uint8Array, passlen: number, salt: Uint8Array, saltlen: number, key: Uint8Array, keylen: number, rounds: number): number;
}
