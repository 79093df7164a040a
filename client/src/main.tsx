import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { takeSignOutReturn } from './features/session/returnFromIdp';
import './styles.css';

// Before anything reads the URL: the IdP's `state` must not become part of a returnTo.
const cameBackFromSignOut = takeSignOutReturn();

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App cameBackFromSignOut={cameBackFromSignOut} />
  </StrictMode>,
);
