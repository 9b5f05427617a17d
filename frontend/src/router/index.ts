// Routes; `meta.permissions` lists what a page needs (any of them). The guard restores a
// session after a reload from this tab's refresh token and gates pages by permission.
import { createRouter, createWebHistory, type RouterHistory, type RouteRecordRaw } from 'vue-router'

import { useAuthStore } from '@/stores/auth'

declare module 'vue-router' {
  interface RouteMeta {
    public?: boolean
    /** any one of these lets the user open the page */
    permissions?: string[]
    /** i18n key of the page title */
    title?: string
  }
}

export const routes: RouteRecordRaw[] = [
  {
    path: '/login',
    name: 'login',
    component: () => import('@/views/LoginView.vue'),
    meta: { public: true, title: 'login.submit' },
  },
  {
    path: '/',
    component: () => import('@/layouts/MainLayout.vue'),
    children: [
      { path: '', name: 'home', component: () => import('@/views/HomeView.vue'), meta: { title: 'menu.home' } },
      {
        path: 'customers',
        name: 'customers',
        component: () => import('@/views/customers/CustomersView.vue'),
        meta: { title: 'menu.customers', permissions: ['customers.read'] },
      },
      {
        path: 'admin/users',
        name: 'users',
        component: () => import('@/views/admin/UsersView.vue'),
        meta: { title: 'menu.users', permissions: ['users.read'] },
      },
      {
        path: 'admin/roles',
        name: 'roles',
        component: () => import('@/views/admin/RolesView.vue'),
        meta: { title: 'menu.roles', permissions: ['roles.read'] },
      },
      {
        path: 'admin/org',
        name: 'org',
        component: () => import('@/views/admin/OrgView.vue'),
        meta: { title: 'menu.org', permissions: ['teams.read'] },
      },
      {
        path: 'admin/api-keys',
        name: 'apiKeys',
        component: () => import('@/views/admin/ApiKeysView.vue'),
        meta: { title: 'menu.apiKeys', permissions: ['apikeys.manage'] },
      },
      {
        path: 'admin/settings',
        name: 'settings',
        component: () => import('@/views/admin/SettingsView.vue'),
        meta: { title: 'menu.settings', permissions: ['tenant.read'] },
      },
      {
        path: 'admin/audit',
        name: 'audit',
        component: () => import('@/views/admin/AuditView.vue'),
        meta: { title: 'menu.audit', permissions: ['audit.read'] },
      },
      {
        path: 'admin/connectors',
        name: 'connectors',
        component: () => import('@/views/connectors/ConnectorsView.vue'),
        meta: { title: 'menu.connectors', permissions: ['connectors.read'] },
      },
      {
        path: 'admin/connectors/:id',
        name: 'connector',
        component: () => import('@/views/connectors/ConnectorDetailView.vue'),
        props: true,
        meta: { title: 'menu.connectors', permissions: ['connectors.read'] },
      },
      {
        path: 'forbidden',
        name: 'forbidden',
        component: () => import('@/views/StatusView.vue'),
        props: { kind: 'forbidden' },
      },
      {
        path: ':rest(.*)*',
        name: 'notFound',
        component: () => import('@/views/StatusView.vue'),
        props: { kind: 'notFound' },
      },
    ],
  },
]

export function makeRouter(history: RouterHistory = createWebHistory()) {
  const router = createRouter({ history, routes })
  router.beforeEach(async (to) => {
    const auth = useAuthStore()
    if (to.meta.public) {
      if (to.name === 'login' && (await auth.restore())) return { name: 'home' }
      return true
    }
    if (!(await auth.restore())) {
      return { name: 'login', query: to.fullPath === '/' ? {} : { redirect: to.fullPath } }
    }
    const needed = to.meta.permissions ?? []
    if (!auth.canAny(needed)) return { name: 'forbidden' }
    return true
  })
  return router
}
