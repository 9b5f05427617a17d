// Desktop notifications (the Notification API). Permission is asked only when the user
// clicks the button that asks for it (browsers ignore or penalise unprompted requests), and a
// notification is shown only while the tab is hidden or not focused.
export type DesktopPermission = NotificationPermission | 'unsupported'

function api(): typeof Notification | null {
  return typeof window !== 'undefined' && 'Notification' in window ? window.Notification : null
}

export function desktopPermission(): DesktopPermission {
  return api()?.permission ?? 'unsupported'
}

/** Ask for permission: call from a click handler only. */
export async function askDesktopPermission(): Promise<DesktopPermission> {
  const N = api()
  if (!N) return 'unsupported'
  if (N.permission !== 'default') return N.permission
  return N.requestPermission()
}

export interface DesktopNotice {
  title: string
  body: string
  /** one notification per tag (a newer one replaces it) */
  tag: string
  onClick?: () => void
}

/** Show a notification when permitted and the user is not looking at this tab. */
export function showDesktop(notice: DesktopNotice, always = false): boolean {
  const N = api()
  if (!N || N.permission !== 'granted') return false
  const looking = typeof document !== 'undefined' && !document.hidden && document.hasFocus()
  if (looking && !always) return false
  const shown = new N(notice.title, { body: notice.body, tag: notice.tag })
  shown.onclick = () => {
    window.focus()
    notice.onClick?.()
    shown.close()
  }
  return true
}
