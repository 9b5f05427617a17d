// Administration pages for backend capabilities: priority routing and team routing settings,
// the event log (dead letters, replay), canned responses and saga definitions. router/index.ts
// picks `routes` up as children of the signed-in layout and MainLayout shows `supervisorMenu`
// in the Administration group (any one of an entry's permissions shows it). Each page needs
// the permission its endpoints require (relaydesk/*/api.py).
import type { RouteRecordRaw } from 'vue-router'

export interface OpsMenuItem {
  path: string
  /** i18n key of the label */
  title: string
  /** name of an @element-plus/icons-vue icon MainLayout knows */
  icon: 'Guide' | 'Tickets' | 'ChatDotSquare' | 'Connection' | 'Collection'
  /** any one of these shows the entry */
  permissions: string[]
  section: 'admin'
}

/** What each page's API needs: routing (teams.manage), events (events.read), canned
 * responses (canned_responses.manage), saga definitions (sagas.read to see them). */
export const OPS_PERMISSIONS = {
  routing: ['teams.manage'],
  events: ['events.read'],
  canned: ['canned_responses.manage'],
  sagas: ['sagas.read'],
} as const

export const routes: RouteRecordRaw[] = [
  {
    path: 'admin/routing',
    name: 'opsRouting',
    component: () => import('@/views/admin/routing/RoutingView.vue'),
    meta: { title: 'ops.menu.routing', permissions: [...OPS_PERMISSIONS.routing] },
  },
  {
    path: 'admin/events',
    name: 'opsEvents',
    component: () => import('@/views/admin/events/EventsView.vue'),
    meta: { title: 'ops.menu.events', permissions: [...OPS_PERMISSIONS.events] },
  },
  {
    path: 'admin/canned-responses',
    name: 'opsCanned',
    component: () => import('@/views/admin/canned/CannedView.vue'),
    meta: { title: 'ops.menu.canned', permissions: [...OPS_PERMISSIONS.canned] },
  },
  {
    path: 'admin/sagas',
    name: 'opsSagas',
    component: () => import('@/views/admin/sagas/SagasView.vue'),
    meta: { title: 'ops.menu.sagas', permissions: [...OPS_PERMISSIONS.sagas] },
  },
]

export const supervisorMenu: OpsMenuItem[] = [
  { path: '/admin/routing', title: 'ops.menu.routing', icon: 'Guide', permissions: [...OPS_PERMISSIONS.routing], section: 'admin' },
  { path: '/admin/events', title: 'ops.menu.events', icon: 'Tickets', permissions: [...OPS_PERMISSIONS.events], section: 'admin' },
  { path: '/admin/canned-responses', title: 'ops.menu.canned', icon: 'ChatDotSquare', permissions: [...OPS_PERMISSIONS.canned], section: 'admin' },
  { path: '/admin/sagas', title: 'ops.menu.sagas', icon: 'Connection', permissions: [...OPS_PERMISSIONS.sagas], section: 'admin' },
]
