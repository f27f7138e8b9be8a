// A small popup menu for a button: opens below it, arrow keys move, Enter or a click picks, Esc, Tab
// or a click elsewhere closes it and gives the focus back to the button.

import { el } from './view.js';

let open = null; // {menu, opener, cleanup}

export function closeMenu(refocus = true) {
  if (!open) return false;
  const { menu, opener, cleanup } = open;
  open = null;
  cleanup();
  menu.remove();
  opener.setAttribute('aria-expanded', 'false');
  if (refocus && opener.isConnected) opener.focus();
  return true;
}

/**
 * Opens a menu under `opener` (which gets aria-haspopup and aria-expanded). `items` are
 * {label, testid, danger?, run}; `label` names the menu for screen readers.
 */
export function openMenu(opener, label, items) {
  const again = open && open.opener === opener;
  closeMenu(false);
  if (again) {
    opener.focus();
    return; // a second click on the same button closes it
  }
  const menu = el('div', 'popup-menu');
  menu.setAttribute('role', 'menu');
  menu.setAttribute('aria-label', label);
  menu.dataset.testid = 'popup-menu';
  const buttons = items.map((item) => {
    const b = el('button', item.danger ? 'menu-item menu-item-danger' : 'menu-item', item.label);
    b.type = 'button';
    b.setAttribute('role', 'menuitem');
    b.tabIndex = -1;
    if (item.testid) b.dataset.testid = item.testid;
    b.addEventListener('click', (e) => {
      e.stopPropagation();
      closeMenu();
      item.run();
    });
    return b;
  });
  menu.append(...buttons);
  opener.after(menu);
  opener.setAttribute('aria-expanded', 'true');
  const onKey = (e) => {
    const at = buttons.indexOf(document.activeElement);
    if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      closeMenu();
    } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      const step = e.key === 'ArrowDown' ? 1 : -1;
      buttons[(at + step + buttons.length) % buttons.length].focus();
    } else if (e.key === 'Home' || e.key === 'End') {
      e.preventDefault();
      buttons[e.key === 'Home' ? 0 : buttons.length - 1].focus();
    } else if (e.key === 'Tab') {
      closeMenu(false);
    }
  };
  const onOutside = (e) => {
    if (!menu.contains(e.target) && e.target !== opener && !opener.contains(e.target)) closeMenu(false);
  };
  menu.addEventListener('keydown', onKey);
  document.addEventListener('pointerdown', onOutside, true);
  open = { menu, opener, cleanup: () => document.removeEventListener('pointerdown', onOutside, true) };
  buttons[0].focus();
}

/** Whether a menu is open (the page's Esc handler leaves it to the menu). */
export const menuOpen = () => open !== null;
