// The DOM of files (§14): attachments in a message (images inline, other files as chips) and the tray
// of uploads under way with their progress bars. The logic is in files.js.

import { boundedSize, cleanAttachment, formatBytes, isInlineImage } from './files.js';
import { el } from './view.js';

/** Inline images are shown at most this large (CSS keeps the same bounds). */
export const IMAGE_MAX_WIDTH = 320;
export const IMAGE_MAX_HEIGHT = 240;

/** A message's attachments: images inline (lazy, click opens full size), other files as download chips. */
export function attachmentsNode(list) {
  const box = el('div', 'attachments');
  for (const raw of list) {
    const a = cleanAttachment(raw);
    if (!a) continue;
    if (isInlineImage(a)) {
      const link = el('a', 'attachment-image');
      link.href = a.url;
      link.target = '_blank';
      link.rel = 'noopener noreferrer';
      link.dataset.testid = 'attachment-image';
      link.setAttribute('aria-label', `${a.name} (image, ${formatBytes(a.size)}), opens full size`);
      const img = el('img');
      img.src = a.url;
      img.alt = a.name;
      img.loading = 'lazy';
      img.decoding = 'async';
      const size = boundedSize(a, IMAGE_MAX_WIDTH, IMAGE_MAX_HEIGHT);
      if (size) {
        img.width = size.width;
        img.height = size.height;
      }
      link.append(img);
      box.append(link);
    } else {
      const chip = el('a', 'attachment-file');
      chip.href = a.url;
      chip.download = a.name;
      chip.rel = 'noopener noreferrer';
      chip.dataset.testid = 'attachment-file';
      const icon = el('span', 'attachment-icon', '📄');
      icon.setAttribute('aria-hidden', 'true');
      chip.append(icon, el('span', 'attachment-name', a.name), el('span', 'attachment-size', formatBytes(a.size)),
        el('span', 'visually-hidden', ', download'));
      box.append(chip);
    }
  }
  return box;
}

/** One row of the upload tray: name, size, a progress bar, and cancel (or remove once finished). */
export function uploadRow(upload) {
  const li = el('li', 'upload upload-' + upload.state);
  li.dataset.testid = 'upload';
  li.dataset.key = String(upload.key);
  li.dataset.state = upload.state;
  const name = el('span', 'upload-name', upload.name);
  const size = el('span', 'upload-size', formatBytes(upload.size));
  li.append(name, size);
  if (upload.state === 'uploading') {
    const bar = el('progress', 'upload-progress');
    bar.dataset.testid = 'upload-progress';
    bar.max = 100;
    bar.value = Math.round(upload.progress * 100);
    bar.setAttribute('aria-label', `Uploading ${upload.name}`);
    li.append(bar);
  } else if (upload.state === 'failed') {
    const why = el('span', 'upload-error', upload.error);
    why.setAttribute('role', 'alert');
    li.append(why);
  } else if (upload.state === 'done') {
    li.append(el('span', 'upload-done', 'ready'));
  }
  const cancel = el('button', 'btn btn-link upload-cancel', upload.state === 'uploading' ? 'Cancel' : 'Remove');
  cancel.type = 'button';
  cancel.dataset.testid = 'upload-cancel';
  cancel.dataset.key = String(upload.key);
  cancel.setAttribute('aria-label', `${upload.state === 'uploading' ? 'Cancel' : 'Remove'} ${upload.name}`);
  li.append(cancel);
  return li;
}

/** Updates a row in place on progress (so the cancel button keeps its focus), or redraws it. */
export function drawUpload(tray, upload) {
  const row = tray.querySelector(`[data-key="${upload.key}"].upload`);
  if (row && row.dataset.state === upload.state && upload.state === 'uploading') {
    row.querySelector('progress').value = Math.round(upload.progress * 100);
    return;
  }
  const fresh = uploadRow(upload);
  if (row) {
    const hadFocus = row.contains(document.activeElement);
    row.replaceWith(fresh);
    if (hadFocus) fresh.querySelector('button').focus();
  } else {
    tray.append(fresh);
  }
}
