/** The dev IdP's seeded users. Every password is "password"; this IdP is for development only. */
export interface DevUser {
  id: string;
  username: string;
  password: string;
  name: string;
  email: string;
}

export const DEV_TENANT_ID = '9188040d-6c67-4c5b-b112-36a304b66dad';

export const devUsers: readonly DevUser[] = [
  { id: '7c1a7f0e-5a1d-4c9b-9a43-2d2f0f6f1a01', username: 'alice', password: 'password', name: 'Alice Example', email: 'alice@example.test' },
  { id: 'b3f2c5d4-8e6a-4f7b-8c21-6e5d4c3b2a02', username: 'bob', password: 'password', name: 'Bob Example', email: 'bob@example.test' },
];

export function findUserById(id: string): DevUser | undefined {
  return devUsers.find((u) => u.id === id);
}

export function checkCredentials(username: string, password: string): DevUser | undefined {
  const user = devUsers.find((u) => u.username === username.trim().toLowerCase());
  return user && user.password === password ? user : undefined;
}
