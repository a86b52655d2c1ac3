from django.urls import path

from shop import views

app_name = "shop"

urlpatterns = [
    path("", views.product_list, name="products"),
    path("products/<slug:slug>/", views.product_detail, name="product"),
    path("cart/", views.cart_detail, name="cart"),
    path("cart/add/<slug:slug>/", views.cart_add, name="cart-add"),
    path("checkout/", views.checkout, name="checkout"),
    path("orders/<str:reference>/", views.order_detail, name="order"),
]
