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

/**
 * Pages of other parts of the UI (src/router/supervisor.ts or src/router/<part>.routes.ts:
 * `supervisorRoutes`, or `routes`
 * or a default export; children of the signed-in layout) and their menu entries
 * (`supervisorMenu`). Found with import.meta.glob, so a missing file simply adds nothing.
 */
function collect(modules: Record<string, Record<string, unknown>>): RouteRecordRaw[] {
  const out: RouteRecordRaw[] = []
  for (const mod of Object.values(modules)) {
    const found = mod.default ?? mod.routes ?? mod.supervisorRoutes
    if (Array.isArray(found)) out.push(...(found as RouteRecordRaw[]))
  }
  return out
}

const extraModules = import.meta.glob<Record<string, unknown>>(['./supervisor.ts', './*.routes.ts'], { eager: true })

export const extraRoutes: RouteRecordRaw[] = collect(extraModules)

/** A menu entry another part of the UI asks for (src/router/supervisor.ts: `supervisorMenu`). */
export interface ExtraMenuItem {
  path: string
  /** i18n key of the label */
  title: string
  /** name of an @element-plus/icons-vue icon */
  icon?: string
  permissions: string[]
  section: 'main' | 'admin'
}

export interface ExtraMenu {
  items: ExtraMenuItem[]
  /** the module's own visibility rule, if it has one (else: any of the permissions) */
  visible?: (item: ExtraMenuItem, can: (...p: string[]) => boolean) => boolean
}

export const extraMenus: ExtraMenu[] = Object.values(extraModules)
  .filter((mod) => Array.isArray(mod.supervisorMenu))
  .map((mod) => ({
    items: mod.supervisorMenu as ExtraMenuItem[],
    visible: typeof mod.menuVisible === 'function' ? (mod.menuVisible as ExtraMenu['visible']) : undefined,
  }))

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
      {
        // the agent workbench (工作台); without conversations.read, the overview instead
        path: '',
        name: 'home',
        component: () => import('@/views/workbench/WorkbenchView.vue'),
        meta: { title: 'menu.home' },
        beforeEnter: () => (useAuthStore().can('conversations.read') ? true : { name: 'overview' }),
      },
      { path: 'overview', name: 'overview', component: () => import('@/views/HomeView.vue'), meta: { title: 'menu.overview' } },
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
        path: 'admin/connectors/new',
        name: 'connectorNew',
        component: () => import('@/views/connectors/ConnectorSpecView.vue'),
        meta: { title: 'specEditor.newTitle', permissions: ['connectors.manage'] },
      },
      {
        path: 'admin/connectors/:id/spec',
        name: 'connectorSpec',
        component: () => import('@/views/connectors/ConnectorSpecView.vue'),
        props: true,
        meta: { title: 'menu.connectors', permissions: ['connectors.manage'] },
      },
      {
        path: 'admin/rules',
        name: 'rules',
        component: () => import('@/views/rules/RulesView.vue'),
        meta: { title: 'menu.rules', permissions: ['rules.read'] },
      },
      {
        path: 'admin/rules/new',
        name: 'ruleNew',
        component: () => import('@/views/rules/RuleEditorView.vue'),
        meta: { title: 'rules.new', permissions: ['rules.manage'] },
      },
      {
        path: 'admin/rules/:id',
        name: 'rule',
        component: () => import('@/views/rules/RuleEditorView.vue'),
        props: true,
        meta: { title: 'menu.rules', permissions: ['rules.read'] },
      },
      {
        path: 'admin/apps',
        name: 'apps',
        component: () => import('@/views/apps/AppsView.vue'),
        meta: { title: 'menu.apps', permissions: ['apps.manage'] },
      },
      {
        path: 'admin/connectors/:id',
        name: 'connector',
        component: () => import('@/views/connectors/ConnectorDetailView.vue'),
        props: true,
        meta: { title: 'menu.connectors', permissions: ['connectors.read'] },
      },
      ...extraRoutes,
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
