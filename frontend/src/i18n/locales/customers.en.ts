// English strings of the customer admin screens (attribute definitions, identities, merge
// suggestions, split). customers.zh-CN.ts has exactly the same keys (a unit test checks it).
// vue-i18n syntax: {name} interpolates; never a literal at-sign, pipe or brace.
const customersEn = {
  customerAdmin: {
    types: { string: 'Text', number: 'Number', boolean: 'Yes / no', date: 'Date', enum: 'Choice' },
    kinds: {
      phone: 'Mobile / phone', email: 'E-mail', visitor: 'Web visitor', openid: 'WeChat openid',
      unionid: 'WeChat unionid', app_user: 'App user id', external: 'External system id',
    },
    namespaceHint: {
      openid: 'The app id, e.g. wx1234abcd', unionid: 'The open-platform account (optional)',
      app_user: 'The app, e.g. website', external: 'Connector instance, e.g. crm:contact',
    },
    valueHint: {
      phone: '138 1234 5678, +86 138-1234-5678 or +44 20 7946 0958', email: 'name.surname (at) example.com',
      visitor: 'The visitor id', openid: 'The openid', unionid: 'The unionid', app_user: "The app's user id",
      external: "The system's id",
    },
    why: {
      unverified_match: 'Same unverified', verified_match: 'Same verified', identity_taken_over: 'Identity taken over',
      profile_duplicate: 'Same profile data',
    },
    attributes: {
      title: 'Customer attributes', new: 'New attribute', createTitle: 'New attribute', editTitle: 'Edit attribute',
      intro: 'Typed fields every customer can have. Agents fill them in the customer form with an input of the type; personal ones are masked like phone numbers.',
      key: 'Key', keyHint: 'lower-case letters, digits and _', label: 'Label', labelZh: 'Label (Chinese)',
      labelEn: 'Label (English)', type: 'Type', options: 'Options', optionsHint: 'Type an option and press Enter',
      required: 'Required', pii: 'Personal data', piiHint: 'Masked for roles without clear personal data',
      description: 'Description', flags: 'Flags', empty: 'No attributes defined yet',
      deleteConfirm: 'Delete the attribute {key}? Values stay on the customers as plain fields.',
      section: 'Attributes',
      locked: 'Some of this customer’s attributes are masked for your role, so they cannot be edited here.',
    },
    identities: {
      title: 'Identities', add: 'Add identity', added: 'Identity added', kind: 'Kind', namespace: 'Namespace',
      value: 'Value', verified: 'Verified', verify: 'Verify', verifiedHint: 'The customer proved they control it',
      removeConfirm: 'Remove the identity {value}?', empty: 'No identities', since: 'From {source}, {time}',
      audited: 'Revealed (audited)',
    },
    split: {
      button: 'Split off ({n})', title: 'Split into a new customer',
      prompt: 'The {n} selected identities move to a new customer. Its name:', confirm: 'Split',
      done: 'New customer {name} created',
    },
    duplicates: {
      title: 'Duplicates',
      intro: 'Customers that look like the same person. Merging keeps the existing profile and moves the newer one into it.',
      newer: 'Newer profile', existing: 'Existing profile', reasons: 'Why', merge: 'Merge', dismiss: 'Dismiss',
      merged: 'Merged into {name}', dismissed: 'Suggestion dismissed', empty: 'No suggestions',
      status: { open: 'Open', dismissed: 'Dismissed', merged: 'Merged', all: 'All' },
      confirmTitle: 'Merge these customers?', confirmText: '{merged} is merged into {survivor}.',
      keeps: 'Stays', moves: 'Identities moving', filled: 'Fields filled in', tags: 'Tags added',
      attributes: 'Attributes taken', conflicts: 'Attributes kept as they are (both had a value)',
      after: 'Afterwards {merged} can no longer be opened; its conversations belong to the customer that stays.',
    },
  },
}

export default customersEn
