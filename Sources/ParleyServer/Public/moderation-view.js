// The DOM of moderation (§12): the room settings panel, the ban list, the kick/ban/delete menus of
// members and messages, the topic in the header and the locked / slow-mode hint near the composer.
// What the commands mean is in moderation.js; this file only draws and wires.

import { refusalExplanation } from './auth.js';
import { closeMenu, openMenu } from './menu.js';
import { banFrame, rulesHint, roomChange } from './moderation.js';
import { Role } from './protocol.js';
import { $, el } from './view.js';

const BAN_CHOICES = [
  { label: 'Ban for 1 hour', seconds: 3600, testid: 'ban-hour' },
  { label: 'Ban for 1 day', seconds: 86400, testid: 'ban-day' },
  { label: 'Ban until unbanned', seconds: null, testid: 'ban-forever' },
];

export class RoomAdmin {
  /**
   * @param {import('./session.js').ChatSession} session
   * @param {(update) => void} act sends what an update asks for
   * @param {import('./view.js').ChatView} view
   * @param {{bearer: () => string|null, copy: (text, button) => void, now?: () => number}} env
   */
  constructor(session, act, view, env) {
    this.session = session;
    this.act = act;
    this.view = view;
    this.env = env;
    this.now = env.now || Date.now;
    this.role = session.role;
    this.countdown = null;
    this.panelOpener = null;
  }

  /** Wires the static controls once per page. */
  wire() {
    $('settings-button').addEventListener('click', () => this.openSettings());
    $('settings-close').addEventListener('click', () => this.closeSettings());
    $('settings-scrim').addEventListener('click', () => this.closeSettings());
    $('settings-form').addEventListener('submit', (e) => { e.preventDefault(); this.saveSettings(); });
    $('settings-panel').addEventListener('keydown', (e) => this.trapFocus(e));
    $('moderator-link-button').addEventListener('click', () => this.act(this.session.moderate({ type: 'moderator_key' })));
    $('moderator-link-copy').addEventListener('click', () => this.env.copy($('moderator-link').value, $('moderator-link-copy')));
    $('revoke-button').addEventListener('click', () => {
      if (!window.confirm('Revoke every moderator link? Moderators who joined with one become members.')) return;
      this.act(this.session.moderate({ type: 'revoke_moderator_keys' }));
      $('moderator-link-box').hidden = true;
      $('owner-status').textContent = 'Every moderator link was revoked.';
    });
    $('delete-confirm').addEventListener('input', () => {
      $('delete-room-button').disabled = $('delete-confirm').value.trim() !== this.session.room;
    });
    $('delete-room-button').addEventListener('click', () => this.deleteRoom());
    $('bans-refresh').addEventListener('click', () => this.requestBans());
    $('ban-list').addEventListener('click', (e) => {
      const b = e.target.closest('button[data-nick]');
      if (!b) return;
      this.act(this.session.moderate({ type: 'unban', nick: b.dataset.nick }));
      this.requestBans();
    });
    $('member-list').addEventListener('click', (e) => {
      const b = e.target.closest('.member-menu-button');
      if (b) this.openMemberMenu(b, b.dataset.nick);
    });
  }

  /** Draws what an update changed; returns true when the role changed (messages need redrawing). */
  apply(update) {
    if (update.rulesChanged) this.refresh();
    if (update.bansChanged) this.renderBans();
    if (update.moderatorLink) {
      $('moderator-link').value = update.moderatorLink.url;
      $('moderator-link-box').hidden = false;
      $('moderator-link').select();
    }
    if (update.rulesChanged && update.welcomed && this.session.moderates) this.requestBans();
    if (this.role !== this.session.role) {
      this.role = this.session.role;
      return true;
    }
    return false;
  }

  refresh() {
    const s = this.session;
    this.view.setTopic(s.settings.topic);
    $('settings-button').hidden = !s.moderates;
    $('bans-section').hidden = !s.moderates;
    if (!s.moderates) this.closeSettings(false);
    this.refreshRules();
  }

  /** The hint near the composer, ticking once a second while a slow-mode wait runs. */
  refreshRules() {
    const s = this.session;
    const now = this.now();
    const text = rulesHint(s.settings, s.role, s.lastPostAt, now);
    const hint = $('room-rules');
    hint.textContent = text;
    hint.hidden = !text;
    const wait = s.postWait(now);
    const locked = wait === Infinity;
    // The send button stays enabled: pressing it early says why in the conversation, which a dimmed
    // button would not.
    $('message-input').disabled = locked;
    $('attach-button').disabled = locked;
    $('message-input').placeholder = locked ? 'Only moderators can post while the room is locked' : 'Message';
    clearTimeout(this.countdown);
    this.countdown = wait > 0 && wait !== Infinity ? setTimeout(() => this.refreshRules(), Math.min(1000, wait)) : null;
  }

  // ---------- settings panel ----------

  openSettings() {
    const s = this.session.settings;
    $('settings-name').value = s.name || '';
    $('settings-topic').value = s.topic || '';
    $('settings-locked').checked = Boolean(s.locked);
    $('settings-slow').value = String(s.slow_mode || 0);
    $('settings-error').hidden = true;
    const owner = this.session.role === Role.owner;
    $('owner-tools').hidden = !owner;
    $('delete-code').textContent = this.session.room;
    $('delete-confirm').value = '';
    $('delete-room-button').disabled = true;
    $('owner-status').textContent = '';
    this.panelOpener = document.activeElement;
    $('settings-panel').hidden = false;
    $('settings-scrim').hidden = false;
    $('settings-name').focus();
  }

  get settingsOpen() {
    return !$('settings-panel').hidden;
  }

  closeSettings(refocus = true) {
    if (!this.settingsOpen) return;
    $('settings-panel').hidden = true;
    $('settings-scrim').hidden = true;
    const back = this.panelOpener && this.panelOpener.isConnected ? this.panelOpener : $('settings-button');
    if (refocus && !back.hidden) back.focus();
  }

  /** Tab stays inside the open dialog. */
  trapFocus(e) {
    if (e.key !== 'Tab') return;
    const focusable = [...$('settings-panel').querySelectorAll('button, input, textarea')]
      .filter((n) => !n.disabled && n.offsetParent !== null);
    if (!focusable.length) return;
    const first = focusable[0];
    const last = focusable.at(-1);
    if (e.shiftKey && document.activeElement === first) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  }

  saveSettings() {
    const change = roomChange(this.session.settings, {
      name: $('settings-name').value,
      topic: $('settings-topic').value,
      locked: $('settings-locked').checked,
      slow_mode: $('settings-slow').value,
    });
    const error = $('settings-error');
    if (change && change.error) {
      error.textContent = change.error;
      error.hidden = false;
      return;
    }
    error.hidden = true;
    if (change) this.act(this.session.moderate(change));
    this.closeSettings();
  }

  async deleteRoom() {
    if ($('delete-confirm').value.trim() !== this.session.room) return;
    const status = $('owner-status');
    status.textContent = 'Deleting…';
    try {
      const bearer = this.session.key;
      const response = await fetch(`/api/rooms/${encodeURIComponent(this.session.room)}`, {
        method: 'DELETE',
        headers: bearer ? { Authorization: `Bearer ${bearer}` } : {},
      });
      if (response.ok) {
        status.textContent = 'The room was deleted.';
        return; // everyone, us included, is closed with 4004, which says the rest
      }
      const body = await response.json().catch(() => null);
      const code = body && body.error ? body.error.code : null;
      status.textContent = refusalExplanation(response.status, code) || `The server refused (${response.status}).`;
    } catch {
      status.textContent = 'The server could not be reached. Try again.';
    }
  }

  // ---------- bans ----------

  requestBans() {
    if (this.session.moderates && this.session.connected) this.act(this.session.moderate({ type: 'bans' }));
  }

  renderBans() {
    const bans = this.session.bans;
    $('bans-empty').hidden = bans.length > 0;
    $('ban-list').replaceChildren(...bans.map((ban) => {
      const li = el('li', 'ban');
      li.dataset.testid = 'ban';
      const until = ban.until ? `until ${ban.until.toLocaleString([], { dateStyle: 'short', timeStyle: 'short' })}` : 'until unbanned';
      li.append(el('span', 'ban-nick', ban.nick), el('span', 'ban-until', until));
      const b = el('button', 'btn btn-link', 'Unban');
      b.type = 'button';
      b.dataset.nick = ban.nick;
      b.dataset.testid = 'unban-button';
      b.setAttribute('aria-label', `Unban ${ban.nick}`);
      li.append(b);
      return li;
    }));
  }

  // ---------- menus ----------

  memberItems(nick) {
    return [
      { label: `Kick ${nick}`, testid: 'kick', danger: true, run: () => this.act(this.session.moderate({ type: 'kick', nick })) },
      ...BAN_CHOICES.map((c) => ({
        label: c.label, testid: c.testid, danger: true,
        run: () => {
          this.act(this.session.moderate(banFrame(nick, c.seconds)));
          this.requestBans();
        },
      })),
    ];
  }

  openMemberMenu(button, nick) {
    openMenu(button, `Moderate ${nick}`, this.memberItems(nick));
  }

  /** A message's moderation menu: delete it, and kick or ban its author while they are here. */
  openMessageMenu(button, m) {
    const items = [{
      label: 'Delete message', testid: 'moderate-delete', danger: true,
      run: () => { if (window.confirm(`Delete ${m.nick}’s message for everyone? This cannot be undone.`)) this.act(this.session.remove(m.id)); },
    }];
    if (this.session.members.includes(m.nick)) items.push(...this.memberItems(m.nick));
    openMenu(button, `Moderate ${m.nick}’s message`, items);
  }

  /** Esc: a menu first, then the panel. */
  escape() {
    if (closeMenu()) return true;
    if (this.settingsOpen) {
      this.closeSettings();
      return true;
    }
    return false;
  }
}
