// The console's login: trades the admin token for the console cookie, then loads the console.
'use strict';

document.addEventListener('DOMContentLoaded', () => {
  const form = document.getElementById('login');
  const error = document.getElementById('login-error');
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    const button = form.querySelector('button');
    button.disabled = true;
    try {
      const res = await fetch('/admin/v1/console/login', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ token: form.elements.token.value }),
      });
      if (res.ok) {
        location.replace('/');
        return;
      }
      let message = `HTTP ${res.status}`;
      try { message = (await res.json()).error || message; } catch { /* not JSON */ }
      error.textContent = message;
    } catch (x) {
      error.textContent = `the server did not answer: ${x.message}`;
    } finally {
      button.disabled = false;
    }
  });
});
