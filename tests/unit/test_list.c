/* Unit tests for the intrusive list (util/list.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/list.h"

typedef struct {
    int v;
    list_t link;
} item_t;

/* The values of the list, first to last, into out; returns how many. Also
 * walks it backwards to check that prev mirrors next. */
static size_t values(const list_t *head, int *out, size_t cap)
{
    size_t n = 0;
    list_foreach(pos, head) {
        assert_true(n < cap);
        assert_ptr_equal(pos->next->prev, pos);
        out[n++] = list_entry(pos, item_t, link)->v;
    }
    size_t back = 0;
    for (const list_t *p = head->prev; p != head; p = p->prev) {
        assert_true(back < n);
        assert_int_equal(list_entry(p, item_t, link)->v, out[n - 1 - back]);
        back++;
    }
    assert_int_equal(back, n);
    assert_int_equal(list_count(head), n);
    return n;
}

#define assert_values(head, ...) do { \
        const int want_[] = { __VA_ARGS__ }; \
        int got_[64]; \
        size_t n_ = values((head), got_, 64); \
        assert_int_equal(n_, sizeof want_ / sizeof want_[0]); \
        for (size_t i_ = 0; i_ < n_; i_++) \
            assert_int_equal(got_[i_], want_[i_]); \
    } while (0)

static void empty_list(void **state)
{
    (void)state;
    list_t head;
    list_init(&head);
    assert_true(list_empty(&head));
    assert_false(list_linked(&head));
    assert_null(list_first(&head));
    assert_null(list_last(&head));
    assert_null(list_pop_head(&head));
    assert_int_equal(list_count(&head), 0);
    int n = 0;
    list_foreach(pos, &head)
        n++;
    assert_int_equal(n, 0);
}

static void insert_head_and_tail_keep_order(void **state)
{
    (void)state;
    list_t head;
    list_init(&head);
    item_t it[4] = { { .v = 1 }, { .v = 2 }, { .v = 3 }, { .v = 4 } };
    list_insert_tail(&head, &it[1].link);   /* 2 */
    list_insert_tail(&head, &it[2].link);   /* 2 3 */
    list_insert_head(&head, &it[0].link);   /* 1 2 3 */
    list_insert_tail(&head, &it[3].link);   /* 1 2 3 4 */
    assert_false(list_empty(&head));
    assert_values(&head, 1, 2, 3, 4);
    assert_ptr_equal(list_first(&head), &it[0].link);
    assert_ptr_equal(list_last(&head), &it[3].link);
    assert_ptr_equal(list_next(&head, &it[1].link), &it[2].link);
    assert_null(list_next(&head, &it[3].link));
    assert_true(list_linked(&it[2].link));
}

static void remove_first_middle_last(void **state)
{
    (void)state;
    list_t head;
    list_init(&head);
    item_t it[5];
    for (int i = 0; i < 5; i++) {
        it[i].v = i;
        list_insert_tail(&head, &it[i].link);
    }
    list_remove(&it[2].link);
    assert_values(&head, 0, 1, 3, 4);
    list_remove(&it[0].link);
    assert_values(&head, 1, 3, 4);
    list_remove(&it[4].link);
    assert_values(&head, 1, 3);
    assert_false(list_linked(&it[4].link));

    /* Removing an unlinked link again changes nothing. */
    list_remove(&it[4].link);
    assert_values(&head, 1, 3);

    /* A removed link can be linked again, in another place. */
    list_insert_head(&head, &it[4].link);
    assert_values(&head, 4, 1, 3);

    list_remove(&it[1].link);
    list_remove(&it[3].link);
    list_remove(&it[4].link);
    assert_true(list_empty(&head));
}

static void pop_head_is_fifo(void **state)
{
    (void)state;
    list_t head;
    list_init(&head);
    item_t it[3] = { { .v = 7 }, { .v = 8 }, { .v = 9 } };
    for (int i = 0; i < 3; i++)
        list_insert_tail(&head, &it[i].link);
    for (int i = 0; i < 3; i++) {
        list_t *n = list_pop_head(&head);
        assert_non_null(n);
        assert_int_equal(list_entry(n, item_t, link)->v, 7 + i);
        assert_false(list_linked(n));
    }
    assert_null(list_pop_head(&head));
    assert_true(list_empty(&head));
}

static void foreach_safe_removes_while_walking(void **state)
{
    (void)state;
    list_t head;
    list_init(&head);
    item_t it[10];
    for (int i = 0; i < 10; i++) {
        it[i].v = i;
        list_insert_tail(&head, &it[i].link);
    }
    /* Remove the even ones, including the first. */
    list_foreach_safe(pos, &head) {
        if (list_entry(pos, item_t, link)->v % 2 == 0)
            list_remove(pos);
    }
    assert_values(&head, 1, 3, 5, 7, 9);
    /* And the rest, leaving the list empty. */
    int seen = 0;
    list_foreach_safe(pos, &head) {
        list_remove(pos);
        seen++;
    }
    assert_int_equal(seen, 5);
    assert_true(list_empty(&head));
}

static void splice_moves_everything_in_order(void **state)
{
    (void)state;
    list_t a, b;
    list_init(&a);
    list_init(&b);
    item_t it[6];
    for (int i = 0; i < 6; i++) {
        it[i].v = i;
        list_insert_tail(i < 2 ? &a : &b, &it[i].link);
    }
    list_splice_tail(&a, &b);
    assert_values(&a, 0, 1, 2, 3, 4, 5);
    assert_true(list_empty(&b));

    /* Splicing an empty list is a no-op; into an empty list moves all. */
    list_splice_tail(&a, &b);
    assert_values(&a, 0, 1, 2, 3, 4, 5);
    list_splice_tail(&b, &a);
    assert_true(list_empty(&a));
    assert_values(&b, 0, 1, 2, 3, 4, 5);

    /* The moved links still work: remove the first and last of b. */
    list_remove(&it[0].link);
    list_remove(&it[5].link);
    assert_values(&b, 1, 2, 3, 4);
}

/* The element is found from a link that is not its first member. */
typedef struct {
    char pad[13];
    list_t first;
    double d;
    list_t second;
} two_links_t;

static void one_element_in_two_lists(void **state)
{
    (void)state;
    list_t x, y;
    list_init(&x);
    list_init(&y);
    two_links_t e = { .d = 2.5 };
    list_insert_tail(&x, &e.first);
    list_insert_tail(&y, &e.second);
    assert_ptr_equal(list_entry(list_first(&x), two_links_t, first), &e);
    assert_ptr_equal(list_entry(list_first(&y), two_links_t, second), &e);
    list_remove(&e.first);
    assert_true(list_empty(&x));
    assert_false(list_empty(&y));
    assert_true(list_entry(list_first(&y), two_links_t, second)->d == 2.5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_list),
        cmocka_unit_test(insert_head_and_tail_keep_order),
        cmocka_unit_test(remove_first_middle_last),
        cmocka_unit_test(pop_head_is_fifo),
        cmocka_unit_test(foreach_safe_removes_while_walking),
        cmocka_unit_test(splice_moves_everything_in_order),
        cmocka_unit_test(one_element_in_two_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
