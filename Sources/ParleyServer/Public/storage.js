// localStorage and sessionStorage, which private browsing may refuse: the page then keeps going in memory.

function get(area, key) {
  try { return window[area].getItem(key); } catch { return null; }
}

function set(area, key, value) {
  try {
    if (value === null) window[area].removeItem(key); else window[area].setItem(key, value);
  } catch { /* quota or disabled storage */ }
}

/** The nick last used, for every room. */
export const rememberedNick = {
  load: () => get('localStorage', 'parley.nick'),
  save: (nick) => set('localStorage', 'parley.nick', nick),
};

/** Messages typed in a room and not yet echoed: they survive a reload and are resent. */
export const outbox = {
  load(room) {
    try {
      const list = JSON.parse(get('localStorage', 'parley.outbox.' + room) || '[]');
      return Array.isArray(list) ? list : [];
    } catch { return []; }
  },
  save: (room, items) => set('localStorage', 'parley.outbox.' + room, items.length ? JSON.stringify(items) : null),
};

/** The session secret lives in sessionStorage so two tabs on one room do not keep replacing each other. */
export const sessionSecret = {
  load: (room) => get('sessionStorage', 'parley.session.' + room),
  save: (room, secret) => set('sessionStorage', 'parley.session.' + room, secret),
};

/** A room's owner or moderator key (§12), from its `#key=` link: kept per room so a reload stays owner. */
export const roomKey = {
  load: (room) => get('localStorage', 'parley.key.' + room),
  save: (room, key) => set('localStorage', 'parley.key.' + room, key),
};
