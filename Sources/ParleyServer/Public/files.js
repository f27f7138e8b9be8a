// Files and images (§14) without DOM: checking a file against `welcome.limits` before a byte is sent,
// uploading it with progress and cancel (XMLHttpRequest, whose upload progress fetch lacks), and the
// tray of uploads that the next message attaches. files-view.js draws them.

import { ATTACHMENTS_MAX, INLINE_IMAGE_TYPES } from './protocol.js';
import { refusalExplanation } from './auth.js';

/** "1.5 MB", "820 KB", "12 bytes" (decimal units, as file managers show them). */
export function formatBytes(n) {
  if (!Number.isFinite(n) || n < 0) return '';
  if (n < 1000) return `${n} ${n === 1 ? 'byte' : 'bytes'}`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = n / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1).replace(/\.0$/, '') : Math.round(value)} ${units[unit]}`;
}

/** Why `file` cannot be sent here (plain words), or null. `limits` is `welcome.limits` (may be null). */
export function fileRefusal(file, limits, alreadyStaged = 0) {
  if (alreadyStaged >= ATTACHMENTS_MAX) return `A message can carry at most ${ATTACHMENTS_MAX} files.`;
  const max = limits && Number.isInteger(limits.max_file_bytes) && limits.max_file_bytes > 0 ? limits.max_file_bytes : null;
  if (max !== null && file.size > max) {
    return `“${file.name}” is ${formatBytes(file.size)}; this server takes files up to ${formatBytes(max)}.`;
  }
  return null;
}

/** An attachment object as the server sends it (§14), checked; null when it is not one. */
export function cleanAttachment(a) {
  if (!a || typeof a.id !== 'string' || typeof a.url !== 'string' || typeof a.name !== 'string') return null;
  // Only our own server's file URLs: never an arbitrary scheme in an href or src.
  if (!/^\/files\/[^/?#]+\/[^?#]*$/.test(a.url) && !/^https?:\/\/[^/]+\/files\//.test(a.url)) return null;
  return a;
}

/** Shown inline as an image (only the types the server serves inline as images). */
export const isInlineImage = (a) => INLINE_IMAGE_TYPES.includes(a.type);

/** The size an inline image takes before it loads, so the list does not jump: within maxW × maxH. */
export function boundedSize(a, maxW, maxH) {
  if (!Number.isInteger(a.width) || !Number.isInteger(a.height) || a.width < 1 || a.height < 1) return null;
  const scale = Math.min(1, maxW / a.width, maxH / a.height);
  return { width: Math.max(1, Math.round(a.width * scale)), height: Math.max(1, Math.round(a.height * scale)) };
}

/** A pasted image has no useful name ("image.png"): give it one that says when. */
export function pastedName(type, now) {
  const ext = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/gif': 'gif', 'image/webp': 'webp' }[type] || 'bin';
  const stamp = new Date(now).toISOString().replace(/[:]/g, '-').replace(/\..*$/, '');
  return `pasted-${stamp}.${ext}`;
}

/** The files of a paste (images only: pasted text stays text) or of a drop. */
export function filesOf(transfer, { imagesOnly = false } = {}) {
  if (!transfer) return [];
  const out = [];
  for (const item of transfer.items ? Array.from(transfer.items) : []) {
    if (item.kind !== 'file') continue;
    const file = item.getAsFile();
    if (file && (!imagesOnly || file.type.startsWith('image/'))) out.push(file);
  }
  if (!out.length && transfer.files) {
    for (const file of Array.from(transfer.files)) if (!imagesOnly || file.type.startsWith('image/')) out.push(file);
  }
  return out;
}

let nextUploadId = 1;

/**
 * One file on its way to `POST /api/rooms/{code}/files`. `onChange(upload)` is called on progress and
 * at the end; `state` is 'uploading', 'done' (then `attachment`), 'failed' (then `error`) or 'cancelled'.
 */
export class Upload {
  constructor(file, name, { room, bearer = null, XHR = globalThis.XMLHttpRequest, onChange = () => {} }) {
    this.key = nextUploadId++;
    this.file = file;
    this.name = name;
    this.size = file.size;
    this.loaded = 0;
    this.state = 'uploading';
    this.attachment = null;
    this.error = null;
    this.onChange = onChange;
    const xhr = new XHR();
    this.xhr = xhr;
    xhr.open('POST', `/api/rooms/${encodeURIComponent(room)}/files?name=${encodeURIComponent(name)}`);
    xhr.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
    if (bearer) xhr.setRequestHeader('Authorization', `Bearer ${bearer}`);
    xhr.responseType = 'text';
    xhr.upload.onprogress = (e) => {
      if (this.state !== 'uploading') return;
      this.loaded = e.loaded;
      this.onChange(this);
    };
    xhr.onload = () => this.finished(xhr.status, xhr.responseText);
    xhr.onerror = () => this.fail('The upload did not get through. Check the connection and try again.');
    xhr.onabort = () => {};
    xhr.send(file);
  }

  /** 0–1 while uploading. */
  get progress() {
    return this.size > 0 ? Math.min(1, this.loaded / this.size) : 0;
  }

  cancel() {
    if (this.state !== 'uploading') return;
    this.state = 'cancelled';
    this.xhr.abort();
    this.onChange(this);
  }

  finished(status, text) {
    if (this.state !== 'uploading') return;
    let body = null;
    try { body = JSON.parse(text); } catch { body = null; }
    if (status === 201 || status === 200) {
      const attachment = cleanAttachment(body);
      if (attachment) {
        this.state = 'done';
        this.loaded = this.size;
        this.attachment = attachment;
        this.onChange(this);
        return;
      }
    }
    const code = body && body.error ? body.error.code : null;
    const said = body && body.error && typeof body.error.message === 'string' ? body.error.message : null;
    this.fail(refusalExplanation(status, code) || said || `The server refused the file (${status}).`);
  }

  fail(error) {
    if (this.state !== 'uploading') return;
    this.state = 'failed';
    this.error = error;
    this.onChange(this);
  }
}

/** The files staged for the next message. */
export class UploadTray {
  constructor() {
    this.uploads = [];
  }

  add(upload) {
    this.uploads.push(upload);
  }

  /** Takes one out (cancelling it if still under way). */
  remove(key) {
    const upload = this.uploads.find((u) => u.key === key);
    if (!upload) return;
    upload.cancel();
    this.uploads = this.uploads.filter((u) => u !== upload);
  }

  get busy() {
    return this.uploads.some((u) => u.state === 'uploading');
  }

  get count() {
    return this.uploads.filter((u) => u.state === 'uploading' || u.state === 'done').length;
  }

  /** The ids the next message attaches (the finished uploads). */
  ids() {
    return this.uploads.filter((u) => u.state === 'done').map((u) => u.attachment.id);
  }

  /** The message went out: start afresh (failed and cancelled ones go too). */
  clear() {
    for (const u of this.uploads) u.cancel();
    this.uploads = [];
  }
}
