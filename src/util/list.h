/* An intrusive doubly-linked list, the one the project uses (in the style of
 * Linux's list_head and libuv's queue).
 *
 * The link lives inside the element (`list_t link;` in the struct), so
 * linking allocates nothing and an element removes itself in O(1) without
 * knowing which list holds it. list_entry turns a link back into its element.
 *
 * A list is circular around a head that holds no element: an empty list's
 * head points at itself, so insert and remove have no special cases. The
 * same type serves as head and as link.
 *
 *   typedef struct { int v; list_t link; } item_t;
 *   list_t items;
 *   list_init(&items);
 *   list_insert_tail(&items, &it->link);
 *   list_foreach(pos, &items) {
 *       item_t *it = list_entry(pos, item_t, link);
 *       ...
 *   }
 *
 * An element may be removed while iterating only with list_foreach_safe.
 * A link is "unlinked" after list_init or list_remove; list_remove of an
 * unlinked link is harmless (it links to itself), which makes "remove if
 * linked" code unnecessary. A zeroed link (calloc) is NOT unlinked: link it
 * or list_init it before removing it.
 *
 * Header only: every function is a few pointer moves, static inline. */
#ifndef FC_UTIL_LIST_H
#define FC_UTIL_LIST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct list {
    struct list *prev, *next;
} list_t;

/* The element of type `type` whose member `member` is the link `node`. */
#define list_entry(node, type, member) \
    ((type *)((char *)(node) - offsetof(type, member)))

/* For each link of the list, first to last. Do not remove `pos` inside. */
#define list_foreach(pos, head) \
    for (list_t *pos = (head)->next; pos != (head); pos = pos->next)

/* Same, and `pos` may be removed (or freed) inside the loop: the next link
 * is read before the body runs. Other links must not be removed. */
#define list_foreach_safe(pos, head) \
    for (list_t *pos = (head)->next, *pos##_next_ = pos->next; pos != (head); \
         pos = pos##_next_, pos##_next_ = pos->next)

static inline void list_init(list_t *head)
{
    head->prev = head->next = head;
}

static inline bool list_empty(const list_t *head)
{
    return head->next == head;
}

/* True when the link is in some list (false after list_init/list_remove). */
static inline bool list_linked(const list_t *node)
{
    return node->next != node;
}

static inline void list_insert_after_(list_t *at, list_t *node)
{
    node->prev = at;
    node->next = at->next;
    at->next->prev = node;
    at->next = node;
}

static inline void list_insert_head(list_t *head, list_t *node)
{
    list_insert_after_(head, node);
}

static inline void list_insert_tail(list_t *head, list_t *node)
{
    list_insert_after_(head->prev, node);
}

/* Unlinks node from whatever list holds it and leaves it unlinked. */
static inline void list_remove(list_t *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    list_init(node);
}

/* The first / last link, or NULL when the list is empty. */
static inline list_t *list_first(const list_t *head)
{
    return list_empty(head) ? NULL : head->next;
}

static inline list_t *list_last(const list_t *head)
{
    return list_empty(head) ? NULL : head->prev;
}

/* The link after node, or NULL when node is the last. */
static inline list_t *list_next(const list_t *head, const list_t *node)
{
    return node->next == head ? NULL : node->next;
}

/* Removes and returns the first link, or NULL when the list is empty. */
static inline list_t *list_pop_head(list_t *head)
{
    list_t *node = list_first(head);
    if (node)
        list_remove(node);
    return node;
}

/* Moves every link of src to the end of dst, in order; src ends empty. */
static inline void list_splice_tail(list_t *dst, list_t *src)
{
    if (list_empty(src))
        return;
    list_t *first = src->next, *last = src->prev;
    first->prev = dst->prev;
    dst->prev->next = first;
    last->next = dst;
    dst->prev = last;
    list_init(src);
}

/* Links in the list: O(n), for tests and assertions. */
static inline size_t list_count(const list_t *head)
{
    size_t n = 0;
    list_foreach(pos, head)
        n++;
    return n;
}

#endif
