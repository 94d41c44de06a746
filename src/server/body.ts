/**
 * Request bodies: JSON that must be valid UTF-8 (an invalid byte is a 400 naming its offset, never silently replaced
 * by U+FFFD as a plain `toString` would), and the 413 for a body over the limit worded with the limit and the flag
 * that raises it. Fastify's own JSON parser (prototype-poisoning protection included) parses the checked text.
 * Source: RFC 8259 §8.1 (JSON text exchanged between systems is UTF-8); issue 14.
 */
import { isUtf8 } from 'node:buffer';
import type { FastifyInstance } from 'fastify';
import { ApiError } from './errors.js';

/**
 * Offset of the first byte of `buf` that starts an ill-formed UTF-8 sequence (a stray continuation byte, a truncated
 * sequence, an overlong form, a surrogate, a code point past U+10FFFF), or -1 when `buf` is valid UTF-8.
 */
export function firstInvalidUtf8(buf: Uint8Array): number {
  if (isUtf8(buf)) return -1;
  for (let i = 0; i < buf.length; ) {
    const b = buf[i]!;
    const len = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (len === 0) return i;
    if (len > 1) {
      // The second byte's range excludes overlong forms, surrogates (ED A0..BF) and > U+10FFFF (F4 90..).
      const lo = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80;
      const hi = b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf;
      for (let k = 1; k < len; k++) {
        const c = buf[i + k];
        if (c === undefined || c < (k === 1 ? lo : 0x80) || c > (k === 1 ? hi : 0xbf)) return i;
      }
    }
    i += len;
  }
  return -1;
}

/** The 413 of a body over `limitBytes`. */
export function bodyTooLarge(limitBytes: number): ApiError {
  const mib = limitBytes / (1024 * 1024);
  const limit = Number.isInteger(mib) ? `${mib} MiB` : `${limitBytes} bytes`;
  return new ApiError(413, `request body too large: this server accepts at most ${limit} (${limitBytes} bytes); start mimo serve with a larger --max-body (e.g. --max-body ${Math.max(2 * Math.ceil(mib), 8)}mb)`, 'invalid_request_error', null, 'request_too_large');
}

/** Parse `application/json` bodies as checked UTF-8 with fastify's default (secure) JSON parser. */
export function registerJsonBody(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'ignore');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    const buf = body as Buffer;
    const bad = firstInvalidUtf8(buf);
    if (bad >= 0) {
      const hex = [...buf.subarray(bad, bad + 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
      done(new ApiError(400, `request body is not valid UTF-8: invalid byte sequence at byte offset ${bad} (bytes ${hex}); send the JSON encoded as UTF-8`, 'invalid_request_error', 'body', 'invalid_utf8'), undefined);
      return;
    }
    parseJson(req, buf.toString('utf8'), done);
  });
}
