// Names the workbench shows for ids: inboxes, agents, teams (fetched once per sign-in) and
// the channel icons.
import { ChatDotRound, Connection, Iphone, Message, Phone } from '@element-plus/icons-vue'
import { shallowRef, type Component } from 'vue'

import { allPages, call, client } from '@/api/client'
import { useAuthStore } from '@/stores/auth'
import { useDirectoryStore } from '@/stores/directory'
import type { Inbox } from '@/stores/workbench'

export const CHANNEL_ICONS: Record<string, Component> = {
  web_chat: ChatDotRound,
  email: Message,
  sms: Iphone,
  voice: Phone,
  api: Connection,
}

const inboxes = shallowRef<Inbox[]>([])
let inboxesLoading: Promise<void> | null = null

export function useLookups() {
  const auth = useAuthStore()
  const directory = useDirectoryStore()

  function loadInboxes(): Promise<void> {
    if (inboxesLoading) return inboxesLoading
    inboxesLoading = (async () => {
      try {
        inboxes.value = await allPages((cursor) =>
          call(() => client.GET('/api/v1/inboxes', { params: { query: { cursor, limit: 200 } } })),
        )
      } catch {
        inboxesLoading = null
      }
    })()
    return inboxesLoading
  }

  async function loadPeople(): Promise<void> {
    const jobs: Promise<void>[] = []
    if (auth.can('users.read')) jobs.push(directory.loadUsers().catch(() => undefined))
    if (auth.can('teams.read')) jobs.push(directory.loadTeams().catch(() => undefined))
    await Promise.all(jobs)
  }

  function inboxName(id: string | null | undefined): string {
    if (!id) return ''
    return inboxes.value.find((i) => i.id === id)?.name ?? ''
  }

  function userName(id: string | null | undefined): string {
    if (!id) return ''
    const user = directory.users.find((u) => u.id === id)
    return user ? user.display_name || user.email : `#${id.slice(-6)}`
  }

  function teamName(id: string | null | undefined): string {
    if (!id) return ''
    return directory.teams.find((team) => team.id === id)?.name ?? `#${id.slice(-6)}`
  }

  return { inboxes, directory, loadInboxes, loadPeople, inboxName, userName, teamName }
}

/** Forget the cached inboxes (a new sign-in). */
export function resetLookups(): void {
  inboxes.value = []
  inboxesLoading = null
}
