// The agent workbench's state: the conversation list (filters, pages, unread counts), the
// open conversation's messages, the customers shown, who is typing; kept current by the
// realtime events (stores/realtime.ts). An event changes what is shown at once; the
// conversation is then read again from the API, which has the last word (unread counts,
// assignee, status), and it joins or leaves the list according to the filters.
import { defineStore } from 'pinia'
import { computed, reactive, ref, shallowRef } from 'vue'

import { call, client, type Customer } from '@/api/client'
import { useAuthStore } from '@/stores/auth'
import { useRealtimeStore } from '@/stores/realtime'
import { canMove, liveEvents, type Notice } from '@/stores/workbenchLive'
import {
  byActivity, DEFAULT_FILTERS, matches, listQuery, MESSAGE_PAGE, PAGE_SIZE, TYPING_TTL_MS,
  type AssignBody, type Conversation, type ConversationPatch, type Filters, type Message,
} from '@/stores/workbenchModel'

export type { Notice } from '@/stores/workbenchLive'

export * from '@/stores/workbenchModel'

export const useWorkbenchStore = defineStore('workbench', () => {
  const auth = useAuthStore()
  const realtime = useRealtimeStore()

  const filters = reactive<Filters>({ ...DEFAULT_FILTERS })
  const byId = reactive<Record<string, Conversation>>({})
  const listIds = ref<string[]>([])
  const nextCursor = ref<string | null>(null)
  const loading = ref(false)
  const loaded = ref(false)
  const error = shallowRef<unknown>(null)
  const selectedId = ref<string | null>(null)
  const messages = reactive<Record<string, Message[]>>({})
  const liveAt = new Map<string, number>()
  const olderCursor = reactive<Record<string, string | null>>({})
  const messagesLoading = ref(false)
  const customers = reactive<Record<string, Customer>>({})
  /** conversation id → who ("agent:<id>" / "customer") → until (ms) */
  const typing = reactive<Record<string, Record<string, number>>>({})
  const now = ref(Date.now())
  let notifier: ((notice: Notice) => void) | null = null
  let generation = 0
  let unsubscribe: (() => void) | null = null
  let typingTimer: ReturnType<typeof setInterval> | null = null

  const myId = computed(() => (auth.me?.kind === 'user' ? auth.me.id : null))
  const list = computed(() => listIds.value.map((id) => byId[id]).filter((c): c is Conversation => !!c))
  const selected = computed(() => (selectedId.value ? (byId[selectedId.value] ?? null) : null))
  const unreadTotal = computed(() => list.value.reduce((n, c) => n + (c.unread_count || 0), 0))
  const selectedMessages = computed(() => (selectedId.value ? (messages[selectedId.value] ?? []) : []))

  function setNotifier(fn: ((notice: Notice) => void) | null): void {
    notifier = fn
  }

  function sortList(): void {
    listIds.value = [...listIds.value].sort((a, b) => byActivity(byId[a]!, byId[b]!))
  }

  /** Put a conversation (fresh from the API) in place: into, within or out of the list. */
  function upsert(c: Conversation): void {
    byId[c.id] = c
    const inList = listIds.value.includes(c.id)
    const belongs = matches(c, filters, myId.value)
    if (belongs && !inList) listIds.value = [...listIds.value, c.id]
    else if (!belongs && inList) listIds.value = listIds.value.filter((id) => id !== c.id)
    sortList()
  }

  // --- the list ---------------------------------------------------------------------------

  async function load(): Promise<void> {
    const mine = ++generation
    loading.value = true
    error.value = null
    try {
      const page = await call(() =>
        client.GET('/api/v1/conversations', { params: { query: { ...listQuery(filters), limit: PAGE_SIZE } } }),
      )
      if (mine !== generation) return
      for (const c of page.items) byId[c.id] = c
      listIds.value = page.items.map((c) => c.id)
      sortList()
      nextCursor.value = page.next_cursor ?? null
      loaded.value = true
      void ensureCustomers(page.items.map((c) => c.customer_id))
    } catch (e) {
      if (mine === generation) error.value = e
    } finally {
      if (mine === generation) loading.value = false
    }
  }

  async function loadMore(): Promise<void> {
    if (!nextCursor.value || loading.value) return
    const mine = generation
    loading.value = true
    try {
      const page = await call(() =>
        client.GET('/api/v1/conversations', {
          params: { query: { ...listQuery(filters), limit: PAGE_SIZE, cursor: nextCursor.value ?? undefined } },
        }),
      )
      if (mine !== generation) return
      for (const c of page.items) byId[c.id] = c
      const known = new Set(listIds.value)
      listIds.value = [...listIds.value, ...page.items.map((c) => c.id).filter((id) => !known.has(id))]
      sortList()
      nextCursor.value = page.next_cursor ?? null
      void ensureCustomers(page.items.map((c) => c.customer_id))
    } catch (e) {
      error.value = e
    } finally {
      if (mine === generation) loading.value = false
    }
  }

  function setFilters(patch: Partial<Filters>): Promise<void> {
    Object.assign(filters, patch)
    if (filters.view !== 'team') filters.teamId = null
    return load()
  }

  // --- one conversation ---------------------------------------------------------------------

  const inflight = new Map<string, Promise<void>>()
  const again = new Set<string>()

  /** Read a conversation again (coalesced: one request at a time per conversation). */
  function refreshConversation(id: string): Promise<void> {
    const running = inflight.get(id)
    if (running) {
      again.add(id)
      return running
    }
    const run = (async () => {
      try {
        const c = await call(() =>
          client.GET('/api/v1/conversations/{conversation_id}', { params: { path: { conversation_id: id } } }),
        )
        upsert(c)
        void ensureCustomers([c.customer_id])
      } catch {
        // gone or no longer visible to us
        listIds.value = listIds.value.filter((x) => x !== id)
      } finally {
        inflight.delete(id)
        if (again.delete(id)) await refreshConversation(id)
      }
    })()
    inflight.set(id, run)
    return run
  }

  /** ``asked``: when the request that answered ``incoming`` was made (performance.now()) */
  function mergeMessages(id: string, incoming: Message[], asked: number): void {
    const all = new Map((messages[id] ?? []).map((m) => [m.id, m]))
    for (const m of incoming) {
      const known = all.get(m.id)
      // answers can cross: never take a reply's status back (delivered → queued), nor let
      // an answer asked for before a live change overwrite it (a retry's error)
      if (known && (!canMove(known.status, m.status) || (liveAt.get(m.id) ?? -1) >= asked)) continue
      all.set(m.id, m)
    }
    messages[id] = [...all.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  }

  async function select(id: string | null): Promise<void> {
    selectedId.value = id
    if (!id) return
    if (!byId[id]) await refreshConversation(id)
    const c = byId[id]
    if (c) void ensureCustomers([c.customer_id])
    messagesLoading.value = true
    try {
      const asked = performance.now()
      const page = await call(() =>
        client.GET('/api/v1/conversations/{conversation_id}/messages', {
          params: { path: { conversation_id: id }, query: { limit: MESSAGE_PAGE } },
        }),
      )
      mergeMessages(id, page.items, asked)
      olderCursor[id] = page.next_cursor ?? null
    } finally {
      if (selectedId.value === id) messagesLoading.value = false
    }
    if ((byId[id]?.unread_count ?? 0) > 0) await markRead(id)
  }

  async function loadOlder(): Promise<void> {
    const id = selectedId.value
    const cursor = id ? olderCursor[id] : null
    if (!id || !cursor) return
    const asked = performance.now()
    const page = await call(() =>
      client.GET('/api/v1/conversations/{conversation_id}/messages', {
        params: { path: { conversation_id: id }, query: { limit: MESSAGE_PAGE, cursor } },
      }),
    )
    mergeMessages(id, page.items, asked)
    olderCursor[id] = page.next_cursor ?? null
  }

  async function refreshMessages(id: string): Promise<void> {
    const asked = performance.now()
    const page = await call(() =>
      client.GET('/api/v1/conversations/{conversation_id}/messages', {
        params: { path: { conversation_id: id }, query: { limit: 20 } },
      }),
    )
    mergeMessages(id, page.items, asked)
  }

  async function markRead(id: string): Promise<void> {
    const c = await call(() =>
      client.POST('/api/v1/conversations/{conversation_id}/read', { params: { path: { conversation_id: id } } }),
    )
    upsert(c)
  }

  async function send(text: string, isPrivate: boolean): Promise<Message> {
    const id = selectedId.value
    if (!id) throw new Error('no conversation is open')
    const asked = performance.now()
    const message = await call(() =>
      client.POST('/api/v1/conversations/{conversation_id}/messages', {
        params: { path: { conversation_id: id } },
        body: { text, private: isPrivate, content_type: 'text' },
      }),
    )
    mergeMessages(id, [message], asked)
    const c = byId[id]
    if (c && !isPrivate) upsert({ ...c, last_message_at: message.created_at })
    return message
  }

  async function update(id: string, body: ConversationPatch): Promise<Conversation> {
    const c = await call(() =>
      client.PATCH('/api/v1/conversations/{conversation_id}', { params: { path: { conversation_id: id } }, body }),
    )
    upsert(c)
    return c
  }

  async function assign(id: string, body: AssignBody): Promise<Conversation> {
    const c = await call(() =>
      client.POST('/api/v1/conversations/{conversation_id}/assign', { params: { path: { conversation_id: id } }, body }),
    )
    upsert(c)
    if (body.note) void refreshMessages(id)
    return c
  }

  // --- customers ----------------------------------------------------------------------------

  const customerInflight = new Map<string, Promise<void>>()

  function fetchCustomer(id: string): Promise<void> {
    const running = customerInflight.get(id)
    if (running) return running
    const run = (async () => {
      try {
        customers[id] = await call(() =>
          client.GET('/api/v1/customers/{customer_id}', { params: { path: { customer_id: id } } }),
        )
      } catch {
        /* the list shows the id; the side panel shows the error */
      } finally {
        customerInflight.delete(id)
      }
    })()
    customerInflight.set(id, run)
    return run
  }

  /** Fetch the customers not known yet, four at a time. */
  async function ensureCustomers(ids: string[]): Promise<void> {
    if (!auth.can('customers.read')) return
    const todo = [...new Set(ids)].filter((id) => !customers[id] && !customerInflight.has(id))
    const workers = Array.from({ length: Math.min(4, todo.length) }, async () => {
      for (let id = todo.shift(); id; id = todo.shift()) await fetchCustomer(id)
    })
    await Promise.all(workers)
  }

  // --- typing -------------------------------------------------------------------------------

  function setTyping(conversationId: string, who: string, on: boolean): void {
    const entry = { ...(typing[conversationId] ?? {}) }
    if (on) entry[who] = Date.now() + TYPING_TTL_MS
    else delete entry[who]
    typing[conversationId] = entry
    now.value = Date.now()
  }

  /** Who is typing in a conversation now: "customer" and/or "agent:<user id>". */
  function typingIn(conversationId: string): string[] {
    const entry = typing[conversationId] ?? {}
    return Object.entries(entry)
      .filter(([, until]) => until > now.value)
      .map(([who]) => who)
  }

  // --- realtime -----------------------------------------------------------------------------

  const applyEvent = liveEvents({
    byId, listIds, selectedId, messages, liveAt, customers, myId, sortList, setTyping, refreshConversation,
    refreshMessages, markRead, fetchCustomer,
    notify: (notice) => notifier?.(notice),
  })

  /** Follow the realtime events; (re)load the list whenever the socket could not resume. */
  function connect(): void {
    if (unsubscribe) return
    unsubscribe = realtime.subscribe({
      event: applyEvent,
      // a fresh socket starts from "now": what happened before it is in a fresh list
      ready: ({ resumed }) => {
        if (!resumed) void load()
      },
      resync: () => {
        void load()
        if (selectedId.value) void refreshMessages(selectedId.value).catch(() => undefined)
      },
    })
    typingTimer = setInterval(() => (now.value = Date.now()), 1_000)
    realtime.start()
    void load()
  }

  function disconnect(): void {
    unsubscribe?.()
    unsubscribe = null
    if (typingTimer !== null) clearInterval(typingTimer)
    typingTimer = null
    realtime.stop()
  }

  /** Forget everything (signing out: the next user starts afresh). */
  function clear(): void {
    disconnect()
    generation++
    Object.assign(filters, DEFAULT_FILTERS)
    for (const key of Object.keys(byId)) delete byId[key]
    for (const key of Object.keys(messages)) delete messages[key]
    liveAt.clear()
    for (const key of Object.keys(olderCursor)) delete olderCursor[key]
    for (const key of Object.keys(customers)) delete customers[key]
    for (const key of Object.keys(typing)) delete typing[key]
    listIds.value = []
    nextCursor.value = null
    loaded.value = false
    loading.value = false
    error.value = null
    selectedId.value = null
    notifier = null
  }

  return {
    clear,
    filters,
    byId,
    listIds,
    list,
    nextCursor,
    loading,
    loaded,
    error,
    selectedId,
    selected,
    messages,
    olderCursor,
    selectedMessages,
    messagesLoading,
    customers,
    typing,
    unreadTotal,
    myId,
    setNotifier,
    load,
    loadMore,
    setFilters,
    refreshConversation,
    select,
    loadOlder,
    refreshMessages,
    markRead,
    send,
    update,
    assign,
    ensureCustomers,
    fetchCustomer,
    typingIn,
    applyEvent,
    connect,
    disconnect,
  }
})
