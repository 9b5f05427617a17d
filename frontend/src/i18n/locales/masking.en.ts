// English strings of the masking policy page (views/admin/masking). masking.zh-CN.ts has exactly
// the same keys (a unit test checks it). vue-i18n syntax: {name} interpolates; never a literal
// at-sign, pipe or brace.
const maskingEn = {
  masking: {
    title: 'Masking policy',
    intro: 'Who sees customers’ personal data, which custom attributes count as personal, and how masked values look. Masking happens on the server; this page only changes who is exempt.',
    roles: {
      title: 'Roles',
      intro: 'Sees clear values: the role’s holders see personal data unmasked everywhere. May reveal: they see it masked but can reveal one field at a time; every reveal is written to the audit log.',
      role: 'Role', seesClear: 'Sees clear values', mayReveal: 'May reveal (audited)', effect: 'What holders see',
      editable: 'Can I change it?', canEdit: 'Yes',
      effects: {
        clear: 'Personal data in clear', reveal: 'Masked; reveal one field on demand (audited)',
        masked: 'Always masked',
      },
      locks: {
        builtin: 'Built-in roles are read-only; create a custom role to change this',
        wildcard: 'Holds every permission (*)',
        noManage: 'Needs the permission to manage roles',
        department: 'Your access is limited to your department: only department-scoped roles',
        beyondYours: 'Carries permissions you do not hold: {missing}',
      },
      saved: 'Role {name} saved',
      needRead: 'Seeing the roles needs the permission to see roles.',
    },
    attributes: {
      title: 'Personal customer attributes',
      intro: 'Custom attributes switched on here are personal data: masked for roles without clear values, like phone numbers.',
      personal: 'Personal data', empty: 'No custom attributes defined',
      readOnly: 'Changing this needs the permission to change the organisation’s settings.',
      needRead: 'Seeing the attributes needs the permission to see customers.',
      nowPersonal: '{name} is now masked as personal data', nowPlain: '{name} is no longer masked',
    },
    formats: {
      title: 'Masking formats',
      intro: 'Fixed for every organisation. Examples show a value before and after masking.',
      kind: 'Kind', rule: 'Rule', example: 'Example',
      kinds: {
        phone: 'Phone', idCard: 'ID card', email: 'E-mail', bankCard: 'Bank card', address: 'Address',
        name: 'Name', freeText: 'Free text',
      },
      rules: {
        phone: 'Mainland mobile: country code, first 3 and last 4 digits kept. Landline: area code and last 4. International: country code and last 4.',
        idCard: 'First 3 and last 4 characters kept; same length.',
        email: 'First and last letter of the part before the domain, then the domain.',
        bankCard: 'Last 4 digits kept; same number of digits.',
        address: 'Province, city and district kept; the street detail is hidden. Other addresses keep city and country.',
        name: 'Chinese names keep the surname; other names keep each initial.',
        freeText: 'Phones, ID numbers, bank cards and e-mail addresses found in names, tags, notes and connector outputs are masked; order codes such as SO1391… are kept.',
      },
    },
  },
}

export default maskingEn
