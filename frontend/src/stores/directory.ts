// Small reference lists several screens need (roles, departments, teams, permissions, users),
// fetched once per sign-in and refreshed after a change.
import { defineStore } from 'pinia'
import { ref } from 'vue'

import {
  allPages,
  call,
  client,
  type Department,
  type Permission,
  type Role,
  type Team,
  type User,
} from '@/api/client'

export const useDirectoryStore = defineStore('directory', () => {
  const roles = ref<Role[]>([])
  const departments = ref<Department[]>([])
  const teams = ref<Team[]>([])
  const permissions = ref<Permission[]>([])
  const users = ref<User[]>([])
  const loaded = new Set<string>()

  async function once(name: string, force: boolean, fn: () => Promise<void>): Promise<void> {
    if (loaded.has(name) && !force) return
    await fn()
    loaded.add(name)
  }

  const loadRoles = (force = false) =>
    once('roles', force, async () => {
      roles.value = await allPages((cursor) =>
        call(() => client.GET('/api/v1/roles', { params: { query: { cursor, limit: 200 } } })),
      )
    })

  const loadDepartments = (force = false) =>
    once('departments', force, async () => {
      departments.value = await allPages((cursor) =>
        call(() => client.GET('/api/v1/departments', { params: { query: { cursor, limit: 200 } } })),
      )
    })

  const loadTeams = (force = false) =>
    once('teams', force, async () => {
      teams.value = await allPages((cursor) =>
        call(() => client.GET('/api/v1/teams', { params: { query: { cursor, limit: 200 } } })),
      )
    })

  const loadPermissions = (force = false) =>
    once('permissions', force, async () => {
      // one page, sorted by name
      permissions.value = (await call(() => client.GET('/api/v1/permissions'))).items
    })

  const loadUsers = (force = false) =>
    once('users', force, async () => {
      users.value = await allPages((cursor) =>
        call(() => client.GET('/api/v1/users', { params: { query: { cursor, limit: 200 } } })),
      )
    })

  function departmentName(id: string | null | undefined): string {
    if (!id) return ''
    return departments.value.find((d) => d.id === id)?.name ?? id.slice(0, 8)
  }

  function reset(): void {
    roles.value = []
    departments.value = []
    teams.value = []
    permissions.value = []
    users.value = []
    loaded.clear()
  }

  return {
    roles,
    departments,
    teams,
    permissions,
    users,
    loadRoles,
    loadDepartments,
    loadTeams,
    loadPermissions,
    loadUsers,
    departmentName,
    reset,
  }
})
