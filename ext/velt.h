/*
** velt for SQLite: public header.
**
** Loadable build:  .load ./velt   (entry point sqlite3_velt_init)
** Static build:    link libvelt.a, then before opening connections:
**
**     sqlite3_auto_extension((void (*)(void))sqlite3_velt_init);
*/
#ifndef VELT_H
#define VELT_H

#include <sqlite3.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && !defined(VELT_STATIC)
#define VELT_API __declspec(dllexport)
#else
#define VELT_API
#endif

VELT_API int sqlite3_velt_init(sqlite3 *db, char **pzErrMsg,
                               const struct sqlite3_api_routines *pApi);

#ifdef __cplusplus
}
#endif
#endif
