// A list fed by cursor pages: first page on load(), then "load more" while next_cursor is set.
import { ref, shallowRef } from 'vue'

import type { ApiError } from '@/api/errors'
import { isApiError, networkError } from '@/api/errors'

export interface Page<T> {
  items: T[]
  next_cursor?: string | null
}

export function useCursorList<T>(fetchPage: (cursor: string | undefined) => Promise<Page<T>>) {
  const items = shallowRef<T[]>([])
  const cursor = ref<string | null>(null)
  const loading = ref(false)
  const error = ref<ApiError | null>(null)
  const loaded = ref(false)
  let generation = 0

  async function run(reset: boolean): Promise<void> {
    const mine = reset ? ++generation : generation
    loading.value = true
    error.value = null
    try {
      const page = await fetchPage(reset ? undefined : (cursor.value ?? undefined))
      if (mine !== generation) return // a newer search replaced this one
      items.value = reset ? page.items : [...items.value, ...page.items]
      cursor.value = page.next_cursor ?? null
      loaded.value = true
    } catch (e) {
      if (mine === generation) error.value = isApiError(e) ? e : networkError(e)
    } finally {
      if (mine === generation) loading.value = false
    }
  }

  return {
    items,
    cursor,
    loading,
    error,
    loaded,
    load: () => run(true),
    more: () => run(false),
    /** replace one item in place (after an edit) */
    replace(match: (item: T) => boolean, next: T) {
      items.value = items.value.map((item) => (match(item) ? next : item))
    },
    remove(match: (item: T) => boolean) {
      items.value = items.value.filter((item) => !match(item))
    },
    prepend(item: T) {
      items.value = [item, ...items.value]
    },
  }
}
