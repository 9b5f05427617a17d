// The workbench's keyboard shortcuts. They never fire while the user types in a field, nor
// with Ctrl, Alt or Meta held (those belong to the browser and the system).
export type ShortcutAction = 'next' | 'previous' | 'reply' | 'note' | 'resolve' | 'help'

export const SHORTCUTS: { keys: string; action: ShortcutAction }[] = [
  { keys: 'j', action: 'next' },
  { keys: 'k', action: 'previous' },
  { keys: 'r', action: 'reply' },
  { keys: 'n', action: 'note' },
  { keys: 'e', action: 'resolve' },
  { keys: '?', action: 'help' },
]

const BY_KEY = new Map(SHORTCUTS.map((s) => [s.keys, s.action]))

function editable(target: EventTarget | null): boolean {
  if (!target || typeof (target as HTMLElement).closest !== 'function') return false
  const el = target as HTMLElement
  if (el.isContentEditable) return true
  return !!el.closest('input, textarea, select, [contenteditable="true"], [role="combobox"]')
}

export function shortcutFor(event: Pick<KeyboardEvent, 'key' | 'ctrlKey' | 'metaKey' | 'altKey' | 'target' | 'isComposing'>): ShortcutAction | null {
  if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return null
  if (editable(event.target)) return null
  return BY_KEY.get(event.key) ?? null
}
