// Supervisor views and the admin screens for webhooks, inboxes/channels and customer 360
// panels. router/index.ts picks `supervisorRoutes` up as children of the main layout (before
// the catch-all); MainLayout shows the routes with `meta.menu` in the side menu (their
// `meta.icon`, `meta.title`, `meta.permissions`). `supervisorMenu` lists the same entries as
// data (icon by name) for anything else that builds a menu.
import { Message, Odometer, Postcard, Promotion, TrendCharts } from '@element-plus/icons-vue'
import type { RouteRecordRaw } from 'vue-router'

import { useAuthStore } from '@/stores/auth'

/** Pages whose API needs several permissions at once (meta.permissions means "any of"). */
function requireAll(...permissions: string[]) {
  return () => (useAuthStore().can(...permissions) ? true : { name: 'forbidden' })
}

const SUPERVISOR = ['conversations.read', 'users.read']
const PANEL_ADMIN = ['connectors.read', 'connectors.manage', 'tenant.manage']

export const supervisorRoutes: RouteRecordRaw[] = [
  {
    path: 'supervisor/queues',
    name: 'supervisorQueues',
    component: () => import('@/views/supervisor/SupervisorQueuesView.vue'),
    beforeEnter: requireAll(...SUPERVISOR),
    meta: { title: 'supervisor.menu.queues', permissions: ['conversations.read'], menu: 'main', icon: Odometer },
  },
  {
    path: 'supervisor/dashboard',
    name: 'supervisorDashboard',
    // ECharts is imported by this view only: it arrives with this route's chunk
    component: () => import('@/views/supervisor/SupervisorDashboardView.vue'),
    beforeEnter: requireAll(...SUPERVISOR),
    meta: { title: 'supervisor.menu.dashboard', permissions: ['conversations.read'], menu: 'main', icon: TrendCharts },
  },
  {
    path: 'admin/webhooks',
    name: 'webhooks',
    component: () => import('@/views/admin/webhooks/WebhooksView.vue'),
    meta: { title: 'webhooks.title', permissions: ['webhooks.read'], menu: 'admin', icon: Promotion },
  },
  {
    path: 'admin/webhooks/:id',
    name: 'webhook',
    component: () => import('@/views/admin/webhooks/WebhookDetailView.vue'),
    props: true,
    meta: { title: 'webhooks.title', permissions: ['webhooks.read'] },
  },
  {
    path: 'admin/inboxes',
    name: 'inboxes',
    component: () => import('@/views/admin/inboxes/InboxesView.vue'),
    meta: { title: 'inboxes.title', permissions: ['inboxes.manage'], menu: 'admin', icon: Message },
  },
  {
    path: 'admin/customer-panels',
    name: 'customerPanels',
    component: () => import('@/views/admin/panels/PanelsView.vue'),
    meta: { title: 'panelsAdmin.title', permissions: PANEL_ADMIN, menu: 'admin', icon: Postcard },
  },
]

export interface SupervisorMenuItem {
  path: string
  /** i18n key of the label */
  title: string
  /** name of an @element-plus/icons-vue icon */
  icon: 'Odometer' | 'TrendCharts' | 'Promotion' | 'Message' | 'Postcard'
  /** any one of these shows the entry */
  permissions: string[]
  /** 'main': beside the workbench; 'admin': in the Administration group */
  section: 'main' | 'admin'
}

export const supervisorMenu: SupervisorMenuItem[] = [
  { path: '/supervisor/queues', title: 'supervisor.menu.queues', icon: 'Odometer', permissions: ['conversations.read'], section: 'main' },
  { path: '/supervisor/dashboard', title: 'supervisor.menu.dashboard', icon: 'TrendCharts', permissions: ['conversations.read'], section: 'main' },
  { path: '/admin/inboxes', title: 'inboxes.title', icon: 'Message', permissions: ['inboxes.manage'], section: 'admin' },
  { path: '/admin/webhooks', title: 'webhooks.title', icon: 'Promotion', permissions: ['webhooks.read'], section: 'admin' },
  { path: '/admin/customer-panels', title: 'panelsAdmin.title', icon: 'Postcard', permissions: PANEL_ADMIN, section: 'admin' },
]

/** Whether the signed-in user sees a menu entry (supervisor pages need both permissions). */
export function menuVisible(item: SupervisorMenuItem, can: (...p: string[]) => boolean): boolean {
  if (item.section === 'main') return can(...SUPERVISOR)
  return item.permissions.some((p) => can(p))
}
