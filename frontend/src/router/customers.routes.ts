// Customer administration: typed attribute definitions (tenant.manage) and the duplicates
// (merge suggestions; customers.merge). Picked up by router/index.ts (import.meta.glob).
import { Collection, Connection } from '@element-plus/icons-vue'
import type { RouteRecordRaw } from 'vue-router'

export const routes: RouteRecordRaw[] = [
  {
    path: 'customers/attributes',
    name: 'customerAttributes',
    component: () => import('@/views/customers/AttributeDefinitionsView.vue'),
    meta: { title: 'customerAdmin.attributes.title', permissions: ['tenant.manage'], menu: 'admin', icon: Collection },
  },
  {
    path: 'customers/duplicates',
    name: 'customerDuplicates',
    component: () => import('@/views/customers/DuplicatesView.vue'),
    meta: { title: 'customerAdmin.duplicates.title', permissions: ['customers.merge'], menu: 'main', icon: Connection },
  },
]

export const supervisorMenu = [
  { path: '/customers/attributes', title: 'customerAdmin.attributes.title', icon: 'Collection', permissions: ['tenant.manage'], section: 'admin' },
  { path: '/customers/duplicates', title: 'customerAdmin.duplicates.title', icon: 'Connection', permissions: ['customers.merge'], section: 'main' },
]
