// The organisation's attribute definitions, fetched once per page load and shared by the
// customer form and drawer (the definitions admin screen refreshes it after a change).
import { ref } from 'vue'

import { call, client } from '@/api/client'

import type { AttributeDefinition } from './customerAdmin'

const definitions = ref<AttributeDefinition[]>([])
let pending: Promise<void> | null = null

export function useDefinitions() {
  function load(force = false): Promise<void> {
    if (!pending || force) {
      pending = call(() => client.GET('/api/v1/customers/attribute-definitions'))
        .then((out) => {
          definitions.value = out.items
        })
        .catch(() => {
          pending = null // shown as plain keys; tried again next time
        })
    }
    return pending
  }
  return { definitions, load }
}
